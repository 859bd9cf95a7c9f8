//! Building one tool call's request and applying credentials, without the
//! network: `{arg}` templates rendered, URL parsed, headers set, an API key
//! and a bearer token applied. Plus the same with `authenticate` across the
//! plugin ABI in front.
//!
//! Run: `cargo build --release --workspace && cargo bench -p authhost --bench request_building`

use authhost::{
    credentials::apply,
    outbound::Outbound,
    tools::{Args, HttpToolType, ToolType},
};
use authhost_plugin_api::{AuthContext, AuthOutcome, Credential, Secret};
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;

#[path = "support.rs"]
mod support;

fn bench(c: &mut Criterion) {
    let tool = HttpToolType
        .build(
            "list_issues",
            &serde_json::json!({
                "url": "https://api.github.com/repos/{owner}/{repo}/issues",
                "query": {"state": "{state}"},
                "headers": {"Accept": "application/vnd.github+json"},
                "auth_provider": "github"
            }),
            &Outbound::default(),
        )
        .expect("tool");
    let args = Args::from([
        ("owner".to_owned(), "rust-lang".into()),
        ("repo".to_owned(), "rust".into()),
        ("state".to_owned(), "open".into()),
    ]);
    let credentials = vec![
        Credential::Header {
            name: "X-API-Key".into(),
            value: Secret::new("key-123"),
        },
        Credential::bearer(Secret::new("gho_token")),
    ];
    c.bench_function("request/prepare_and_apply", |b| {
        b.iter(|| {
            let mut request = tool.prepare(std::hint::black_box(&args)).expect("prepared");
            apply(&mut request, std::hint::black_box(&credentials)).expect("applied");
            request
        })
    });

    let (runtime, provider) =
        support::api_key_provider(serde_json::json!({"api_key": "key-123", "header": "X-API-Key"}));
    let _guard = runtime.enter();
    let ctx = AuthContext::for_user("alice");
    c.bench_function("request/prepare_authenticate_apply", |b| {
        b.iter(|| {
            let mut request = tool.prepare(&args).expect("prepared");
            let outcome = provider
                .authenticate(&ctx)
                .now_or_never()
                .expect("ready")
                .expect("ok");
            let AuthOutcome::Credentials { credentials, .. } = outcome else {
                unreachable!("static provider")
            };
            apply(&mut request, &credentials).expect("applied");
            request
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
