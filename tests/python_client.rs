//! The Python package (`examples/python-client`) tested with pytest against
//! a real `authhost serve`, the test authorization server and an echo API.
//! Needs `httpx` and `pytest` (`pip install "./examples/python-client[test]"`,
//! which `.ci/run` does); skipped without them unless `CI=true`. The
//! NeMo Agent Toolkit adapter (`examples/nat-authhost`) is tested too when
//! `nvidia-nat-core` is installed (required with `CI=true`).

use std::process::Stdio;

use crate::support::{echo, oauth_server, target_dir};

#[tokio::test(flavor = "multi_thread")]
async fn the_python_package_passes_its_tests() {
    let ready = std::process::Command::new("python3")
        .args(["-c", "import httpx, pytest"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ready {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but python3 lacks httpx and pytest: pip install \"./examples/python-client[test]\""
        );
        eprintln!("skipping: python3 lacks httpx and pytest");
        return;
    }
    // The NeMo Agent Toolkit adapter's test runs when NAT is installed (CI
    // installs it).
    let nat = std::process::Command::new("python3")
        .args(["-c", "import nat.authentication"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        nat || std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but NeMo Agent Toolkit is not installed: pip install nvidia-nat-core"
    );
    let (auth, api) = (oauth_server::start(), echo::start());
    let package =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/python-client");
    let out = tokio::process::Command::new("python3")
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&package)
        .env(
            "PYTHONPATH",
            format!(
                "{}:{}",
                package.join("src").display(),
                package.join("../nat-authhost/src").display()
            ),
        )
        .env("AUTHHOST_BIN", target_dir().join("authhost"))
        .env("AUTHHOST_TEST_AUTH_BASE", &auth.base)
        .env("AUTHHOST_TEST_API_BASE", &api.base)
        .output()
        .await
        .expect("python3 -m pytest");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    let expected = if nat {
        "7 passed"
    } else {
        "6 passed, 1 skipped"
    };
    assert!(report.contains(expected), "{report}");
}
