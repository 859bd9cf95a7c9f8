//! Exporting traces over OTLP/HTTP (`general.telemetry`): the spans `serve`
//! records (`invoke` → `credentials` → `refresh` → `upstream`, with the
//! tool, provider and URL without its query) go to a collector in batches.
//! Span fields never hold secrets; the exporter sends nothing else.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;

use crate::workflow::TelemetryConfig;

/// The exporter's HTTP client: reqwest's blocking client, called from the
/// batch processor's own thread (which has no async runtime).
#[derive(Debug)]
struct BlockingHttp(reqwest::blocking::Client);

#[async_trait::async_trait]
impl HttpClient for BlockingHttp {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let response = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body.to_vec())
            .send()?;
        let status = response.status();
        let body = response.bytes()?;
        Ok(Response::builder().status(status).body(body)?)
    }
}

/// The running exporter; flushes what it holds when shut down.
#[derive(Debug)]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    /// An exporter to `config.otlp_endpoint` and the `tracing` layer that
    /// feeds it.
    ///
    /// # Errors
    ///
    /// The endpoint is not usable or the HTTP client cannot be built.
    pub fn start<S>(
        config: &TelemetryConfig,
    ) -> Result<
        (
            Self,
            tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        ),
        String,
    >
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("general.telemetry: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(BlockingHttp(client))
            .with_endpoint(config.otlp_endpoint.clone())
            .build()
            .map_err(|e| format!("general.telemetry.otlp_endpoint: {e}"))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name(config.service_name.clone())
                    .build(),
            )
            .build();
        let tracer = provider.tracer("authhost");
        Ok((
            Self { provider },
            tracing_opentelemetry::layer().with_tracer(tracer),
        ))
    }

    /// Sends what is still buffered and stops.
    pub fn shutdown(self) {
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "exporting the last traces failed");
        }
    }
}
