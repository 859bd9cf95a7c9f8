//! One `authenticate` of `api_key` across the plugin ABI, as the host calls
//! it (ABI call, conversions, panic guard, deadline), against the same
//! provider called in-process.
//!
//! Run: `cargo build --release --workspace && cargo bench -p authhost --bench authenticate`

use authhost_plugin_api::{AuthContext, AuthProvider, CreateContext};
use authhost_static::{ApiKey, ApiKeyConfig};
use criterion::{criterion_group, criterion_main, Criterion};
use futures_util::FutureExt;

#[path = "support.rs"]
mod support;

fn bench(c: &mut Criterion) {
    let config = serde_json::json!({"api_key": "bench-key", "header": "X-API-Key"});
    let (runtime, handle) = support::api_key_provider(config.clone());
    let _guard = runtime.enter();
    let ctx = AuthContext::for_user("alice");
    c.bench_function("authenticate/api_key/across_abi", |b| {
        b.iter(|| {
            handle
                .authenticate(std::hint::black_box(&ctx))
                .now_or_never()
                .expect("ready")
                .expect("ok")
        })
    });

    let parsed: ApiKeyConfig = serde_json::from_value(config).expect("config");
    let ctx_info = CreateContext {
        instance_name: "bench".into(),
        host: None,
    };
    let in_process = ApiKey::create(parsed, &ctx_info).expect("create");
    c.bench_function("authenticate/api_key/in_process", |b| {
        b.iter(|| {
            in_process
                .authenticate(std::hint::black_box(ctx.clone()))
                .now_or_never()
                .expect("ready")
                .expect("ok")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
