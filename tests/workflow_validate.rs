//! `authhost validate` on the catalogue of broken workflows in
//! `tests/fixtures/bad/`: each fails with exit code 1, names its place, and
//! says what its `# expect:` lines say. Plus generated hostile files, the
//! examples, and the composed workflow schema.

use indoc::indoc;
use std::path::{Path, PathBuf};

use crate::support::{authhost, run, write_workflow};

fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(path)
}

/// The `.yaml` files of a repository folder, sorted.
fn yaml_files(folder: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo(folder))
        .unwrap_or_else(|e| panic!("{folder}: {e}"))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Runs `validate` on `file` and checks the failure report.
fn expect_failure(file: &Path, expect: &[String], forbid: &[String], whole_file: bool) -> String {
    let out = run(authhost(), &["validate", &file.display().to_string()]);
    let name = file.display().to_string();
    assert_eq!(out.code, 2, "{name} should fail:\n{}", out.all());
    assert!(!out.all().contains("panicked"), "{name}: {}", out.all());
    assert!(
        out.stdout.contains(&format!("{name}:")),
        "{name} not named:\n{}",
        out.stdout
    );
    if !whole_file {
        let located = out.stdout.lines().any(|l| {
            l.strip_prefix(&format!("{name}:"))
                .and_then(|rest| rest.split_once(": error"))
                .is_some_and(|(pos, _)| {
                    let mut parts = pos.split(':');
                    parts.next().is_some_and(|l| l.parse::<usize>().is_ok())
                        && parts.next().is_some_and(|c| c.parse::<usize>().is_ok())
                })
        });
        assert!(located, "{name}: no line:column in\n{}", out.stdout);
    }
    for fragment in expect {
        assert!(
            out.stdout.contains(fragment),
            "{name}: missing `{fragment}` in\n{}",
            out.stdout
        );
    }
    for text in forbid {
        assert!(
            !out.all().contains(text),
            "{name}: printed `{text}`:\n{}",
            out.all()
        );
    }
    out.stdout
}

#[test]
fn every_bad_fixture_fails_with_its_message_and_place() {
    let mut count = 0;
    let files = yaml_files("tests/fixtures/bad");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let field = |prefix: &str| -> Vec<String> {
            text.lines()
                .filter_map(|l| l.strip_prefix(prefix))
                .map(|s| s.trim().to_owned())
                .collect()
        };
        let expect = field("# expect:");
        assert!(
            !expect.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        let whole = text.lines().any(|l| l.trim() == "# location: whole");
        expect_failure(&file, &expect, &field("# forbid:"), whole);
        count += 1;
    }
    assert!(count >= 25, "only {count} bad fixtures");
}

#[test]
fn hostile_files_are_refused_without_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).expect("write");
        path
    };
    let empty = write("empty.yaml", b"");
    expect_failure(&empty, &["the file is empty".into()], &[], true);
    let comments = write("comments.yaml", b"# nothing here\n");
    expect_failure(&comments, &["the file is empty".into()], &[], true);
    let binary = write("binary.yaml", &[0x7f, b'E', b'L', b'F', 0, 1, 2, 0, 0xff]);
    expect_failure(&binary, &["is a binary file".into()], &[], true);
    let latin1 = write("latin1.yaml", b"authentication:\n  caf\xe9: 1\n");
    expect_failure(&latin1, &["is not UTF-8 text".into()], &[], true);
    let huge = write("huge.yaml", &vec![b'#'; 10 * 1024 * 1024]);
    expect_failure(
        &huge,
        &["workflow files are limited to 1048576 bytes".into()],
        &[],
        true,
    );
    let deep = write(
        "deep.yaml",
        format!("tools: {}{}", "[".repeat(5000), "]".repeat(5000)).as_bytes(),
    );
    expect_failure(
        &deep,
        &["nesting is too deep (more than 64 levels)".into()],
        &[],
        false,
    );
    let deep_maps = write(
        "deep-maps.yaml",
        (0..100)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect::<String>()
            .as_bytes(),
    );
    expect_failure(
        &deep_maps,
        &["nesting is too deep (more than 64 levels)".into()],
        &[],
        false,
    );
}

#[test]
fn secrets_from_the_environment_never_appear_in_diagnostics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let validate = |yaml: &str| {
        let path = write_workflow(dir.path(), yaml);
        let mut cmd = authhost();
        cmd.env("SVC_USER", "a:b-SENTINEL-user");
        cmd.env("SVC_PASSWORD", "SENTINEL-pw-8271");
        cmd.env(
            "AUTHHOST_AUTHENTICATION__SVC__PASSWORD",
            "SENTINEL-override",
        );
        let out = run(
            cmd,
            &["validate", &path.display().to_string(), "--format", "json"],
        );
        assert_eq!(out.code, 2, "{}", out.all());
        assert!(!out.all().contains("SENTINEL"), "{}", out.all());
        let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
        assert_eq!(report["valid"], false);
        report["diagnostics"]
            .as_array()
            .expect("list")
            .iter()
            .map(|d| d["message"].as_str().expect("message").to_owned())
            .collect::<Vec<_>>()
    };
    // A schema error about a key whose value came from the environment.
    let messages = validate(indoc!(
        r#"
        authentication:
          svc:
            _type: http_basic
            username: u
            extra: ${SVC_PASSWORD}
    "#
    ));
    assert_eq!(messages, ["unknown key `extra`"]);
    // The plugin refusing a value that came from the environment.
    let messages = validate(indoc!(
        r#"
        authentication:
          svc:
            _type: http_basic
            username: ${SVC_USER}
            password: x
    "#
    ));
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with("username: must not contain `:`"),
        "{messages:?}"
    );
    // An override coerced where a string is expected, then refused by type elsewhere.
    let messages = validate(indoc!(
        r#"
        authentication:
          svc:
            _type: http_basic
            username: u
            password: [a]
            nope: ${SVC_USER}
    "#
    ));
    assert!(
        messages.contains(&"unknown key `nope`".to_owned()),
        "{messages:?}"
    );
}

#[test]
fn json_report_of_a_valid_workflow() {
    let mut cmd = authhost();
    for k in [
        "WEATHER_API_KEY",
        "GITHUB_TOKEN",
        "REPORTS_PASSWORD",
        "INTERNAL_API_TOKEN",
        "TENANT_KEY",
    ] {
        cmd.env(k, "x");
    }
    let example = repo("examples/static-providers.yaml");
    let out = run(
        cmd,
        &[
            "validate",
            &example.display().to_string(),
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let report: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(report["valid"], true);
    assert_eq!(
        report["providers"],
        serde_json::json!(["github_pat", "internal_api", "reports", "tenant", "weather"])
    );
    assert_eq!(report["tools"].as_array().map(Vec::len), Some(5));
}

/// A Google-style service account key file holding the test RSA key.
fn test_service_account() -> String {
    let key = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/keys/rsa-private.pem"),
    )
    .expect("key");
    serde_json::json!({
        "type": "service_account",
        "client_email": "example@example-project.iam.example.com",
        "private_key": key,
        "token_uri": "https://oauth2.googleapis.com/token",
    })
    .to_string()
}

#[test]
fn every_example_validates() {
    let examples = yaml_files("examples");
    assert!(!examples.is_empty());
    for example in examples {
        let text = std::fs::read_to_string(&example).expect("read");
        let mut cmd = authhost();
        // Every ${VAR} without a default gets a value.
        for var in text
            .split("${")
            .skip(1)
            .filter_map(|s| s.split_once('}'))
            .map(|(v, _)| v)
        {
            if var.ends_with("_SERVICE_ACCOUNT") {
                // A key file must parse: the test RSA key's.
                cmd.env(var, test_service_account());
            } else if !var.contains(":-") {
                cmd.env(var, "example-value");
            }
        }
        let out = run(cmd, &["validate", &example.display().to_string()]);
        assert_eq!(out.code, 0, "{}:\n{}", example.display(), out.all());
    }
}

#[test]
fn the_composed_schema_accepts_the_examples_and_rejects_mistakes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let schema_path = dir.path().join("workflow.schema.json");
    let out = run(
        authhost(),
        &["schema", "--output", &schema_path.display().to_string()],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&schema_path).expect("read")).expect("json");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    for entry in std::fs::read_dir(repo("examples")).expect("examples") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let doc: serde_json::Value =
                serde_saphyr::from_str(&std::fs::read_to_string(&path).expect("read"))
                    .expect("yaml");
            let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        }
    }
    let wrong = [
        serde_json::json!({"authentication": {"w": {"_type": "api_key", "api_key": "k", "heder": "X"}}}),
        serde_json::json!({"authentication": {"w": {"_type": "api_kye", "api_key": "k"}}}),
        serde_json::json!({"authentication": {"w": {"_type": "http_basic", "username": "u"}}}),
        serde_json::json!({"tools": {"t": {"_type": "http", "url": "https://x.test", "methd": "GET"}}}),
        serde_json::json!({"general": {"timeouts": {"http": "soon"}}}),
        serde_json::json!({"sections": {}}),
    ];
    for doc in wrong {
        assert!(!validator.is_valid(&doc), "accepted {doc}");
    }
    // Printed to stdout without --output, too.
    let out = run(authhost(), &["schema"]);
    let printed: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    assert_eq!(printed, schema);
}

/// Every refusal `serve` makes at start-up is a `validate` refusal first,
/// with its place: one fixture per refusal in `tests/fixtures/startup/`
/// (the bind address, inbound auth, a plugin refusing its configuration,
/// the server's limits, the webhook, and what opening the token store
/// refuses before it reaches the database).
#[test]
fn every_startup_refusal_is_a_validate_refusal() {
    let files = yaml_files("tests/fixtures/startup");
    assert!(files.len() >= 12, "only {} start-up fixtures", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let expect: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# expect:"))
            .map(|s| s.trim().to_owned())
            .collect();
        assert!(
            !expect.is_empty(),
            "{} has no `# expect:` line",
            file.display()
        );
        expect_failure(&file, &expect, &[], false);
        let serve = run(
            authhost(),
            &["serve", "--config", &file.display().to_string()],
        );
        assert_eq!(
            serve.code,
            2,
            "{}: serve started:\n{}",
            file.display(),
            serve.all()
        );
        for fragment in &expect {
            assert!(
                serve.stderr.contains(fragment.as_str()),
                "{}: serve did not say `{fragment}`:\n{}",
                file.display(),
                serve.stderr
            );
        }
    }
}

/// A master key that does not parse is refused by `validate` too, without
/// quoting the value (it comes from the environment).
#[test]
fn a_malformed_master_key_is_refused_without_echoing_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write_workflow(
        dir.path(),
        indoc!(
            r#"
            general:
              store:
                url: sqlite:///nonexistent-authhost-folder/t.db
            authentication:
              byo:
                _type: user_supplied
                persist: true
        "#
        ),
    );
    let mut cmd = authhost();
    cmd.env("AUTHHOST_MASTER_KEY", "hunter2-not-base64");
    let out = run(cmd, &["validate", &file.display().to_string()]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stdout.contains("AUTHHOST_MASTER_KEY"), "{}", out.stdout);
    assert!(
        out.stdout.contains("not a base64-encoded 32-byte key"),
        "{}",
        out.stdout
    );
    assert!(!out.all().contains("hunter2"), "{}", out.all());
}
