//! Loading real plugin libraries, good and bad, through the built binary.

use crate::support::{authhost, run, set_mode, write_workflow, PluginDir};
use indoc::indoc;

/// A folder with one good plugin and one of each kind of bad file.
fn mixed_folder() -> PluginDir {
    let dir = PluginDir::new();
    dir.install("authhost_static", "static");
    dir.install("fixture_faulty", "faulty");
    dir.write("junk", &[0x42; 4096]);
    dir.install("fixture_not_a_plugin", "notplugin");
    dir.install("fixture_incompatible", "incompatible");
    // Same type names as libauthhost_static.so under another file name.
    dir.install("authhost_static", "static_copy");
    dir
}

fn plugin_path(dir: &PluginDir) -> Vec<String> {
    vec![
        "--no-default-plugins".to_owned(),
        "--plugin-path".to_owned(),
        dir.path().display().to_string(),
    ]
}

fn args<'a>(base: &'a [String], rest: &[&'a str]) -> Vec<&'a str> {
    base.iter()
        .map(String::as_str)
        .chain(rest.iter().copied())
        .collect()
}

#[test]
fn good_plugins_load_and_each_bad_file_gets_a_short_error() {
    let dir = mixed_folder();
    let base = plugin_path(&dir);
    let out = run(
        authhost(),
        &args(&base, &["info", "components", "--format", "json"]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    let plugins: std::collections::BTreeSet<&str> = rows
        .iter()
        .map(|r| r["plugin"].as_str().expect("plugin"))
        .collect();
    assert_eq!(
        plugins.into_iter().collect::<Vec<_>>(),
        ["authhost-fixture-faulty", "authhost-static"]
    );

    let warnings: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert_eq!(warnings.len(), 4, "{}", out.stderr);
    let expect = [
        (
            dir.file("incompatible"),
            "built against an incompatible plugin-api: it declares version 0.1.0",
        ),
        (
            dir.file("junk"),
            "not a loadable shared library (invalid ELF header)",
        ),
        (
            dir.file("notplugin"),
            "a shared library, but not an authhost plugin",
        ),
        (
            dir.file("static_copy"),
            "declares auth_provider `api_key`, which",
        ),
    ];
    for (file, fragment) in expect {
        let line = warnings
            .iter()
            .find(|w| w.contains(&file.display().to_string()))
            .unwrap_or_else(|| panic!("no warning for {}: {}", file.display(), out.stderr));
        assert!(line.contains(fragment), "{line}");
    }
    // The incompatible plugin: first mismatch, one line, no full report.
    assert!(out.stderr.contains(
        "first mismatch: mismatched package: expected authhost-plugin-api, found authhost-fixture-incompatible"
    ));
    assert!(!out.stderr.contains("Type Layout"));
    // The duplicate names both files.
    assert!(out.stderr.contains(&format!(
        "which {} already declares",
        dir.file("static").display()
    )));
}

#[test]
fn verify_reports_every_file_and_fails() {
    let dir = mixed_folder();
    let out = run(
        authhost(),
        &[
            "--no-default-plugins",
            "plugins",
            "verify",
            &dir.path().display().to_string(),
        ],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert_eq!(
        out.stdout.matches("\nok    ").count() + usize::from(out.stdout.starts_with("ok    ")),
        2
    );
    assert_eq!(out.stdout.matches("FAIL  ").count(), 4, "{}", out.stdout);
    assert!(out.stdout.contains("2 of 6 plugin files ok"));
    assert!(out.stdout.contains("sha256 "));

    let good = run(
        authhost(),
        &[
            "plugins",
            "verify",
            &dir.file("static").display().to_string(),
        ],
    );
    assert_eq!(good.code, 0, "{}", good.all());
    assert!(good.stdout.contains("1 of 1 plugin files ok"));
}

#[test]
fn full_abi_report_only_with_vv() {
    let dir = PluginDir::new();
    let file = dir
        .install("fixture_incompatible", "incompatible")
        .display()
        .to_string();
    let short = run(authhost(), &["plugins", "verify", &file]);
    assert_eq!(short.stdout.lines().count(), 2, "{}", short.stdout);
    let long = run(authhost(), &["-vv", "plugins", "verify", &file]);
    assert!(long.stdout.contains("Type Layout"));
    assert!(long.stdout.lines().count() > 50);
}

#[test]
fn world_writable_plugins_are_refused() {
    let dir = PluginDir::new();
    let file = dir.install("authhost_static", "static");
    set_mode(&file, 0o666);
    let out = run(
        authhost(),
        &["plugins", "verify", &file.display().to_string()],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("refused to load: it is world-writable (mode 666)"),
        "{}",
        out.stdout
    );

    set_mode(&file, 0o644);
    set_mode(dir.path(), 0o777);
    let out = run(
        authhost(),
        &["plugins", "verify", &file.display().to_string()],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stdout.contains("world-writable without the sticky bit"),
        "{}",
        out.stdout
    );

    set_mode(dir.path(), 0o1777);
    let out = run(
        authhost(),
        &["plugins", "verify", &file.display().to_string()],
    );
    assert_eq!(out.code, 0, "{}", out.stdout);
    set_mode(dir.path(), 0o755);
}

#[test]
fn a_panic_in_init_refuses_that_plugin_only() {
    let dir = PluginDir::new();
    dir.install("authhost_static", "static");
    dir.install("fixture_faulty", "faulty");
    let base = plugin_path(&dir);
    let mut cmd = authhost();
    cmd.env("FIXTURE_FAULTY_PANIC_IN_INIT", "1");
    let out = run(
        cmd,
        &args(&base, &["info", "components", "--format", "json"]),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains(&format!(
        "warning: {}: plugin authhost-fixture-faulty failed to initialise: plugin authhost-fixture-faulty panicked in init: deliberate panic in init",
        dir.file("faulty").display()
    )), "{}", out.stderr);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["plugin"] == "authhost-static"),
        "{rows:?}"
    );
}

#[test]
fn a_missing_plugin_path_file_is_named() {
    let out = run(
        authhost(),
        &["plugins", "verify", "/nonexistent/libauthhost_x.so"],
    );
    assert_eq!(out.code, 2);
    assert!(
        out.stdout
            .contains("FAIL  /nonexistent/libauthhost_x.so: no such file"),
        "{}",
        out.stdout
    );
}

#[test]
fn the_provider_template_loads_as_a_third_party_plugin() {
    let dir = PluginDir::new();
    dir.install("provider_template", "request_signature");
    let base = plugin_path(&dir);
    let out = run(authhost(), &args(&base, &["info", "components"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("authhost-provider-template"));
    assert!(out.stdout.contains("request_signature"));
    let schema = run(
        authhost(),
        &args(&base, &["info", "schema", "request_signature"]),
    );
    let schema: serde_json::Value = serde_json::from_str(&schema.stdout).expect("json");
    assert_eq!(schema["properties"]["secret"]["x-secret"], true);
    assert_eq!(
        schema["properties"]["signature_header"]["default"],
        "X-Signature"
    );
}

/// Issue 10: a truncated copy of a real plugin crashed every command with
/// SIGBUS. Each command must now name the file once and keep the others.
#[test]
fn a_truncated_plugin_is_refused_by_every_command_and_the_others_still_work() {
    let dir = PluginDir::new();
    dir.install("authhost_static", "static");
    let whole = std::fs::read(crate::support::library("authhost_oauth2")).expect("read");
    for (name, len) in [("cut20k", 20_000), ("cuthalf", whole.len() / 2)] {
        let file = dir.write(name, &whole[..len]);
        set_mode(&file, 0o755);
    }
    let workflow = write_workflow(dir.path(), crate::support::API_KEY_WORKFLOW);
    let workflow = workflow.display().to_string();
    let base = plugin_path(&dir);
    for command in [
        vec!["plugins", "verify", dir.path().to_str().expect("utf-8")],
        vec!["info", "components"],
        vec!["validate", &workflow],
    ] {
        let out = run(authhost(), &args(&base, &command));
        assert!(
            matches!(out.code, 0..=2),
            "{command:?} exited {} (a signal?): {}",
            out.code,
            out.all()
        );
        let all = out.all();
        for name in ["cut20k", "cuthalf"] {
            let file = dir.file(name).display().to_string();
            let lines: Vec<&str> = all.lines().filter(|l| l.contains(&file)).collect();
            assert_eq!(lines.len(), 1, "{command:?}: {}", out.all());
            assert!(lines[0].contains("truncated or damaged"), "{}", lines[0]);
        }
        assert!(
            out.all().contains("api_key") || out.all().contains("valid"),
            "{command:?}: the good plugin still works: {}",
            out.all()
        );
    }
    let (child, base_url) = {
        let mut cmd = authhost();
        cmd.args(&base);
        cmd.args(["serve", "--config", &workflow, "--bind", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().expect("serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
        let url = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("authhost listening on ").map(str::to_owned))
            .expect("serve starts despite the damaged files");
        (child, url)
    };
    let health = std::net::TcpStream::connect(base_url.trim_start_matches("http://"));
    assert!(health.is_ok());
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
}

/// Issue 10: `plugins verify` on a folder without plugins is a failure.
#[test]
fn verify_of_a_folder_without_plugins_fails() {
    let dir = PluginDir::new();
    std::fs::write(dir.path().join("README.txt"), "no plugins here").expect("write");
    let out = run(
        authhost(),
        &[
            "--no-default-plugins",
            "plugins",
            "verify",
            dir.path().to_str().expect("utf-8"),
        ],
    );
    assert_ne!(out.code, 0, "{}", out.all());
    assert!(
        out.stderr.contains("no plugin files found"),
        "{}",
        out.stderr
    );
}

/// Issue 8: a plugin's error was printed twice by `call`
/// (`… failed: X: X`): the message is part of the error's text and no
/// longer also its `source`. And authhost's own failures exit 2, not 1.
#[test]
fn a_plugin_failure_through_call_is_said_once_and_exits_2() {
    let dir = PluginDir::new();
    dir.install("fixture_faulty", "faulty");
    let workflow = write_workflow(
        dir.path(),
        indoc!(
            r#"
            authentication:
              boom:
                _type: panic_in_authenticate
            tools:
              t:
                _type: http
                url: http://127.0.0.1:9/x
                auth_provider: boom
        "#
        ),
    );
    let base = plugin_path(&dir);
    let out = run(
        authhost(),
        &args(
            &base,
            &["call", "t", "--config", workflow.to_str().expect("utf-8")],
        ),
    );
    assert_eq!(out.code, 2, "{}", out.all());
    let error = out
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .expect("an error line");
    assert_eq!(
        error.matches("deliberate panic in authenticate").count(),
        1,
        "{error}"
    );
}
