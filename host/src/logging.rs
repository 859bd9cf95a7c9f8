//! Logging: `tracing` to stderr, filtered by `RUST_LOG` or by `-v`; and,
//! with `general.telemetry`, the same spans exported over OTLP.

use tracing_subscriber::{
    filter::LevelFilter, layer::SubscriberExt as _, util::SubscriberInitExt as _, EnvFilter,
    Layer as _,
};

use crate::{telemetry::Telemetry, workflow::TelemetryConfig};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON object per line (timestamp, level, target, fields) for log
    /// collectors.
    Json,
}

/// Installs the global subscriber. `RUST_LOG` wins; otherwise `verbosity`
/// picks the level (0 warn, 1 info, 2 debug, 3+ trace). With `telemetry`,
/// spans at INFO and above are also exported (whatever the log level);
/// the returned exporter must be shut down to send its last batch.
pub fn init(
    verbosity: u8,
    format: LogFormat,
    telemetry: Option<&TelemetryConfig>,
) -> Option<Telemetry> {
    let default = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Audit lines (token hand-outs) are written whatever the verbosity,
    // unless RUST_LOG says otherwise.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(format!("{default},authhost::audit=info")));
    // Colours only for a person at a terminal, never in a file or a pipe.
    let lines = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(true);
    let lines = match format {
        LogFormat::Text => lines.boxed(),
        LogFormat::Json => lines.json().boxed(),
    };
    let registry = tracing_subscriber::registry().with(lines.with_filter(filter));
    let (exporter, spans) = match telemetry.map(Telemetry::start) {
        Some(Ok((exporter, layer))) => (Some(exporter), Some(layer.with_filter(LevelFilter::INFO))),
        Some(Err(e)) => {
            eprintln!("warning: {e}; traces are not exported");
            (None, None)
        }
        None => (None, None),
    };
    let _ = registry.with(spans).try_init();
    exporter
}

/// `error` and its sources, joined by `: ` (what `{:#}` prints for an
/// `anyhow` error), for a log field.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
