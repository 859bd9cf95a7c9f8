//! `aws_sigv4` (the `authhost-aws` plugin) through `authhost call` and the
//! proxy: every request an API on 127.0.0.1 receives carries a SigV4
//! signature that an independent implementation ([`crate::support::sigv4`])
//! recomputes from what was received — method, path, sorted query, host,
//! date, payload hash, content type and `x-amz-*` headers — with the
//! session token signed in when given.

use indoc::formatdoc;

use crate::support::{authhost, echo, run, sigv4, write_workflow};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

fn workflow(dir: &std::path::Path, echo: &echo::EchoServer) -> String {
    let yaml = formatdoc!(
        r#"
            authentication:
              aws:
                _type: aws_sigv4
                _base_url: {base}
                access_key_id: AKIAIOSFODNN7EXAMPLE
                secret_access_key: ${{AWS_SECRET_ACCESS_KEY}}
                region: eu-west-1
                service: execute-api
              sts:
                _type: aws_sigv4
                access_key_id: ASIAIOSFODNN7EXAMPLE
                secret_access_key: ${{AWS_SECRET_ACCESS_KEY}}
                session_token: ${{AWS_SESSION_TOKEN}}
                region: us-east-1
                service: s3
                unsigned_payload: true
            tools:
              create_item:
                _type: http
                method: POST
                url: {base}/v1/items
                query:
                  b: "two words"
                  a: "1"
                headers:
                  x-amz-meta-note: "{{name}} here"
                  x-trace: not-signed
                body:
                  name: "{{name}}"
                auth_provider: aws
              list_bucket:
                _type: http
                url: {base}/my-bucket/some%20key.txt
                auth_provider: sts
        "#,
        base = echo.base,
    );
    write_workflow(dir, yaml).display().to_string()
}

fn call(config: &str, args: &[&str]) -> serde_json::Value {
    let mut cmd = authhost();
    cmd.env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN");
    let mut all = args.to_vec();
    all.extend(["--config", config, "--format", "json"]);
    let out = run(cmd, &all);
    assert_eq!(out.code, 0, "{}", out.all());
    assert!(!out.all().contains(SECRET));
    serde_json::from_str::<serde_json::Value>(&out.stdout).expect("json")["body"].clone()
}

#[test]
fn every_request_carries_a_signature_an_independent_implementation_accepts() {
    let echo = echo::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = workflow(dir.path(), &echo);

    let received = call(&config, &["call", "create_item", "--arg", "name=widget"]);
    let scope = sigv4::verify(&received, SECRET).unwrap_or_else(|e| panic!("{e}\n{received}"));
    assert!(
        scope.ends_with("/eu-west-1/execute-api/aws4_request"),
        "{scope}"
    );
    let signed = received["headers"]["authorization"]
        .as_str()
        .expect("authorization");
    // The content type and the request's own x-amz-* header are signed
    // too; other headers are not.
    assert!(
        signed.contains(
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-note,"
        ),
        "{signed}"
    );
    let mut tampered = received.clone();
    tampered["headers"]["x-amz-meta-note"] = serde_json::json!("other");
    assert!(sigv4::verify(&tampered, SECRET).is_err());
    // Tampering is caught by the same check.
    let mut tampered = received.clone();
    tampered["body"] = serde_json::json!("{\"name\":\"other\"}");
    assert!(sigv4::verify(&tampered, SECRET).is_err());
    assert!(sigv4::verify(&received, "another secret").is_err());

    // Temporary credentials: the session token is sent and signed; S3's
    // unsigned payload.
    let received = call(&config, &["call", "list_bucket"]);
    sigv4::verify(&received, SECRET).unwrap_or_else(|e| panic!("{e}\n{received}"));
    assert_eq!(
        received["headers"]["x-amz-security-token"],
        "FQoGZXIvYXdzEXAMPLETOKEN"
    );
    assert_eq!(
        received["headers"]["x-amz-content-sha256"],
        "UNSIGNED-PAYLOAD"
    );

    // Through the proxy (`authhost curl`) too, body and query included.
    let mut cmd = authhost();
    cmd.env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_SESSION_TOKEN", "FQoGZXIvYXdzEXAMPLETOKEN");
    let out = run(
        cmd,
        &[
            "curl",
            "aws",
            "/v1/orders?z=last&y=first",
            "-X",
            "PUT",
            "-d",
            "{\"qty\":3}",
            "-H",
            "Content-Type: application/json",
            "-H",
            "X-Amz-Meta-Batch: 7",
            "--config",
            &config,
        ],
    );
    assert_eq!(out.code, 0, "{}", out.all());
    let received: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    sigv4::verify(&received, SECRET).unwrap_or_else(|e| panic!("{e}\n{received}"));
    assert!(
        received["headers"]["authorization"]
            .as_str()
            .is_some_and(|a| a.contains("x-amz-meta-batch")),
        "{received}"
    );
}

#[test]
fn config_mistakes_are_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (entry, expected) in [
        ("access_key_id: not-a-key\n    secret_access_key: s\n    region: us-east-1\n    service: s3", "access_key_id: expected an AWS access key id"),
        ("access_key_id: AKIAIOSFODNN7EXAMPLE\n    secret_access_key: s\n    region: US East\n    service: s3", "region: expected lowercase letters"),
        ("access_key_id: AKIAIOSFODNN7EXAMPLE\n    secret_access_key: s\n    region: us-east-1", "service"),
    ] {
        let path = write_workflow(
            dir.path(),
            format!("authentication:\n  aws:\n    _type: aws_sigv4\n    {entry}\n"),
        );
        let out = run(authhost(), &["validate", &path.display().to_string()]);
        assert_eq!(out.code, 2, "{entry}: {}", out.all());
        assert!(out.stdout.contains("authentication.aws"), "{}", out.stdout);
        assert!(out.stdout.contains(expected), "{entry}: {}", out.stdout);
    }
}
