//! A plugin's life as its author and operator live it, through the binary:
//! `plugins new` → `cargo test` and build → `plugins install` → `validate`
//! a workflow that pins it → `call` through it against a local API →
//! `plugins list` → `plugins remove`. And a plugin built against the real
//! plugin-api 0.1.0 still loads.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use indoc::formatdoc;

use crate::support::{authhost, echo, library, run, set_mode, target_dir, write_workflow, Run};

/// Where plugins built by these tests go: not the workspace's own output
/// folder, which the host searches (a plugin built there would appear in
/// every other test's component list).
fn plugin_target_dir() -> PathBuf {
    target_dir()
        .parent()
        .expect("target/debug has a parent")
        .join("plugin-builds")
}

/// `cargo` in `dir`, building into [`plugin_target_dir`] with the
/// workspace's locked dependency versions (so nothing is downloaded and the
/// dependencies compile once for every run).
fn cargo(dir: &Path, args: &[&str]) -> Run {
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(lock, dir.join("Cargo.lock")).expect("copy Cargo.lock");
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", plugin_target_dir());
    run(cmd, args)
}

/// `authhost` with its own user plugin folder under `data`.
fn authhost_with_data(data: &Path) -> Command {
    let mut cmd = authhost();
    cmd.env("XDG_DATA_HOME", data)
        .env("CARGO_TARGET_DIR", plugin_target_dir())
        .env("DEMO_KEY", "k-123");
    cmd
}

#[test]
fn new_build_install_pin_call_list_remove() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data = tmp.path().join("data");
    let crate_dir = tmp.path().join("demo");
    let crate_arg = crate_dir.display().to_string();
    let host = || authhost_with_data(&data);

    let out = run(host(), &["plugins", "new", "demo", "--path", &crate_arg]);
    assert_eq!(out.code, 0, "{}", out.all());
    let manifest = std::fs::read_to_string(crate_dir.join("Cargo.toml")).expect("Cargo.toml");
    let pinned = format!("version = \"={}\"", authhost_plugin_api::abi::API_VERSION);
    assert!(manifest.contains(&pinned), "{manifest}");
    assert!(manifest.contains("name = \"authhost_demo\""), "{manifest}");

    // The scaffold's own tests (the fake host) pass as generated.
    let tested = cargo(&crate_dir, &["test", "-q"]);
    assert_eq!(tested.code, 0, "{}", tested.all());
    assert!(tested.stdout.contains("3 passed"), "{}", tested.all());

    // Making it again over a non-empty folder is refused, and changes nothing.
    let again = run(host(), &["plugins", "new", "demo", "--path", &crate_arg]);
    assert_eq!(again.code, 2, "{}", again.all());
    assert!(
        again.stderr.contains("already exists and is not empty"),
        "{}",
        again.stderr
    );

    let out = run(
        host(),
        &[
            "plugins", "install", &crate_arg, "--debug", "--format", "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let installed: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let installed_file = data.join("authhost/plugins/libauthhost_demo.so");
    assert_eq!(
        installed["plugin"]["path"],
        installed_file.display().to_string()
    );
    assert_eq!(installed["pin"]["file"], "libauthhost_demo.so");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&installed_file)
            .expect("installed")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o644);
    }
    let sha256 = installed["pin"]["sha256"]
        .as_str()
        .expect("sha256")
        .to_owned();

    // A workflow that pins it validates, and a call goes through it.
    let api = echo::start();
    let yaml = formatdoc!(
        r#"
            plugins:
              pins:
                - file: libauthhost_demo.so
                  sha256: {sha256}
            authentication:
              my_api:
                _type: demo
                token_url: {base}/session-token
                api_key: ${{DEMO_KEY}}
            tools:
              me:
                _type: http
                url: {base}/me
                auth_provider: my_api
        "#,
        base = api.base
    );
    let workflow = write_workflow(tmp.path(), yaml);
    let workflow_arg = workflow.display().to_string();
    let out = run(host(), &["validate", &workflow_arg]);
    assert_eq!(out.code, 0, "{}", out.all());
    let out = run(
        host(),
        &["call", "me", "--config", &workflow_arg, "--format", "json"],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let hits = api.hits();
    let paths: Vec<&str> = hits
        .iter()
        .map(|h| h["path"].as_str().expect("path"))
        .collect();
    assert_eq!(paths, ["/session-token", "/me"]);
    assert_eq!(hits[0]["headers"]["x-api-key"], "k-123");
    assert_eq!(hits[1]["headers"]["authorization"], "Bearer s-k-123");
    assert!(
        !out.stderr.contains("k-123"),
        "the key leaked: {}",
        out.stderr
    );

    // `list` shows it with its versions, its digest and the workflow's pin.
    let out = run(
        host(),
        &[
            "plugins",
            "list",
            "--workflow",
            &workflow_arg,
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    let demo = listed
        .iter()
        .find(|p| p["name"] == "authhost-demo")
        .unwrap_or_else(|| panic!("demo not listed: {}", out.stdout));
    assert_eq!(demo["version"], "0.1.0");
    assert_eq!(demo["api_version"], authhost_plugin_api::abi::API_VERSION);
    assert_eq!(demo["description"], "The demo provider for authhost");
    assert_eq!(demo["sha256"], sha256.as_str());
    assert_eq!(demo["pinned"], true);
    assert_eq!(demo["components"][0]["type"], "demo");
    let builtin = listed
        .iter()
        .find(|p| p["name"] == "authhost-static")
        .expect("static listed");
    assert_eq!(builtin["pinned"], false);

    let out = run(host(), &["-v", "info", "components"]);
    assert!(
        out.stdout
            .contains("authhost-demo 0.1.0: The demo provider for authhost"),
        "{}",
        out.stdout
    );

    // A second plugin whose types are taken is refused, naming the clash.
    let out = run(
        host(),
        &[
            "plugins",
            "install",
            &library("authhost_static").display().to_string(),
        ],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("authhost-static is already installed"),
        "{}",
        out.stderr
    );

    let out = run(host(), &["plugins", "remove", "demo"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!installed_file.exists());
    let out = run(host(), &["info", "components", "--format", "json"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.stdout.contains("\"demo\""), "{}", out.stdout);
    let out = run(host(), &["plugins", "remove", "demo"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("no plugin `demo`"), "{}", out.stderr);
}

#[test]
fn an_authenticator_scaffold_passes_its_own_tests() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("sso");
    let out = run(
        authhost(),
        &[
            "plugins",
            "new",
            "intranet_sso",
            "--kind",
            "authenticator",
            "--path",
            &dir.display().to_string(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let tested = cargo(&dir, &["test", "-q"]);
    assert_eq!(tested.code, 0, "{}", tested.all());
    assert!(tested.stdout.contains("2 passed"), "{}", tested.all());
}

#[test]
fn bad_names_and_missing_crates_are_refused_with_the_reason() {
    let out = run(authhost(), &["plugins", "new", "Not A Name"]);
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(out.stderr.contains("expected snake_case"), "{}", out.stderr);

    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run(
        authhost(),
        &["plugins", "install", &tmp.path().display().to_string()],
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr.contains("a folder without Cargo.toml"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_plugin_built_against_plugin_api_0_1_0_still_loads() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/old-api-plugin");
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("old");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    for file in ["Cargo.toml", "src/lib.rs"] {
        std::fs::copy(fixture.join(file), dir.join(file)).expect("copy fixture");
    }
    let unpacked = Command::new("tar")
        .arg("xzf")
        .arg(fixture.join("plugin-api-0.1.0.crate"))
        .arg("-C")
        .arg(&dir)
        .status()
        .expect("tar");
    assert!(unpacked.success());
    std::fs::rename(
        dir.join("authhost-plugin-api-0.1.0"),
        dir.join("plugin-api-0.1.0"),
    )
    .expect("rename");
    // 0.1.0's lib.rs includes ../../docs/plugin-authors.md, which its
    // package lacks (0.1.1 includes the guide only when it is there).
    std::fs::create_dir_all(dir.join("docs")).expect("mkdir");
    std::fs::write(dir.join("docs/plugin-authors.md"), "").expect("write");
    let built = cargo(&dir, &["build", "-q"]);
    assert_eq!(built.code, 0, "{}", built.all());

    let plugins = tmp.path().join("plugins");
    std::fs::create_dir_all(&plugins).expect("mkdir");
    set_mode(&plugins, 0o755);
    std::fs::copy(
        plugin_target_dir().join("debug/libauthhost_old_api.so"),
        plugins.join("libauthhost_old_api.so"),
    )
    .expect("copy");
    let plugin_path = plugins.display().to_string();
    let out = run(
        authhost(),
        &[
            "--plugin-path",
            &plugin_path,
            "plugins",
            "list",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let listed: Vec<serde_json::Value> = serde_json::from_str(&out.stdout).expect("json");
    let old = listed
        .iter()
        .find(|p| p["name"] == "authhost-old-api")
        .unwrap_or_else(|| panic!("not listed: {}", out.all()));
    assert_eq!(old["api_version"], "0.1.0");
    assert_eq!(old["version"], "0.3.0");
    // 0.1.0 had no metadata fields: read as empty, not as garbage.
    assert_eq!(old["description"], "");

    let api = echo::start();
    let yaml = formatdoc!(
        r#"
            authentication:
              old:
                _type: old_api_header
                value: v-1
            tools:
              t:
                _type: http
                url: {}/old
                auth_provider: old
        "#,
        api.base
    );
    let workflow = write_workflow(tmp.path(), yaml);
    let out = run(
        authhost(),
        &[
            "--plugin-path",
            &plugin_path,
            "call",
            "t",
            "--config",
            &workflow.display().to_string(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(api.hits()[0]["headers"]["x-old-api"], "v-1");
}
