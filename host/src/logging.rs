//! Logging: `tracing` to stderr, filtered by `RUST_LOG` or by `-v`.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `RUST_LOG` wins; otherwise `verbosity`
/// picks the level (0 warn, 1 info, 2 debug, 3+ trace).
pub fn init(verbosity: u8) {
    let default = match verbosity {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .try_init();
}
