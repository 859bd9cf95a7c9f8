//! Forwards `tracing` events inside a plugin to the host's subscriber.
//!
//! A plugin has its own copy of `tracing`'s global dispatcher, so without this
//! bridge its events vanish. [`install`] sets a global subscriber in the
//! plugin that formats each event and calls `HostServices::log`; the host
//! re-emits it with a `plugin` field. Panics inside the plugin are routed the
//! same way instead of the plugin's own stderr hook.

use std::fmt::{self, Write as _};

use abi_stable::std_types::ROption;
use tracing_core::{
    field::{Field, Visit},
    span, Event, Level, LevelFilter, Metadata, Subscriber,
};

use crate::{abi::LogLevel, Host};

struct Bridge {
    host: Host,
    max: LevelFilter,
}

fn to_abi(level: &Level) -> LogLevel {
    match *level {
        Level::ERROR => LogLevel::Error,
        Level::WARN => LogLevel::Warn,
        Level::INFO => LogLevel::Info,
        Level::DEBUG => LogLevel::Debug,
        Level::TRACE => LogLevel::Trace,
    }
}

fn to_filter(level: ROption<LogLevel>) -> LevelFilter {
    match level {
        ROption::RNone => LevelFilter::OFF,
        ROption::RSome(LogLevel::Error) => LevelFilter::ERROR,
        ROption::RSome(LogLevel::Warn) => LevelFilter::WARN,
        ROption::RSome(LogLevel::Info) => LevelFilter::INFO,
        ROption::RSome(LogLevel::Debug) => LevelFilter::DEBUG,
        ROption::RSome(LogLevel::Trace) => LevelFilter::TRACE,
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

impl Subscriber for Bridge {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        *metadata.level() <= self.max
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(self.max)
    }

    fn new_span(&self, _: &span::Attributes<'_>) -> span::Id {
        // Spans are not forwarded: the host's current span already frames
        // every call into the plugin.
        span::Id::from_u64(1)
    }

    fn record(&self, _: &span::Id, _: &span::Record<'_>) {}

    fn record_follows_from(&self, _: &span::Id, _: &span::Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        visitor.message.push_str(&visitor.fields);
        let meta = event.metadata();
        self.host.services().log(
            to_abi(meta.level()),
            meta.target().into(),
            visitor.message.as_str().into(),
        );
    }

    fn enter(&self, _: &span::Id) {}

    fn exit(&self, _: &span::Id) {}
}

/// The bridge as the current thread's subscriber until the guard drops
/// (the fake host of the `testing` feature captures a plugin's events so).
#[cfg(feature = "testing")]
pub(crate) fn scoped(host: &Host) -> tracing::subscriber::DefaultGuard {
    let max = to_filter(host.services().max_log_level());
    tracing::subscriber::set_default(Bridge {
        host: host.clone(),
        max,
    })
}

/// Installs the bridge as this plugin's global subscriber and routes panic
/// messages to the host's log. Safe to call more than once.
pub(crate) fn install(host: &Host) {
    let max = to_filter(host.services().max_log_level());
    let bridge = Bridge {
        host: host.clone(),
        max,
    };
    // Fails only if a subscriber is already set (a second init): keep it.
    let _ = tracing::subscriber::set_global_default(bridge);

    let panic_host = host.clone();
    std::panic::set_hook(Box::new(move |info| {
        panic_host.services().log(
            LogLevel::Error,
            "panic".into(),
            info.to_string().as_str().into(),
        );
    }));
}
