//! The log channels as a `tracing` layer, for Rust apps:
//!
//! ```no_run
//! use std::sync::Arc;
//! use tracing_subscriber::layer::SubscriberExt;
//! use relops_client::logs::{LogConfig, LogLayer, Logs};
//! let logs = Arc::new(Logs::open(LogConfig::new("/var/log/wizard", "wizard")).unwrap());
//! tracing::subscriber::set_global_default(
//!     tracing_subscriber::registry().with(LogLayer::new(Arc::clone(&logs))),
//! ).unwrap();
//! tracing::info!(project = "Q3.wzp", "project opened");
//! logs.audit("project.export", &serde_json::json!({"user": "anna", "format": "pdf"})).unwrap();
//! ```
//!
//! Events go to the app and error logs by level; the audit log takes only explicit
//! [`Logs::audit`] calls, so nothing reaches it by accident.

use std::fmt::Write as _;
use std::sync::Arc;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::{Level, Logs};

/// Writes `tracing` events at info and above to the app log, errors also to the error log.
#[derive(Debug, Clone)]
pub struct LogLayer {
    logs: Arc<Logs>,
}

impl LogLayer {
    pub fn new(logs: Arc<Logs>) -> Self {
        Self { logs }
    }
}

/// `message` first, then the other fields as `name=value`.
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={value:?}", field.name());
        }
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _: Context<'_, S>) -> bool {
        *metadata.level() <= tracing::Level::INFO
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => Level::Error,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => return,
        };
        let mut text = Text::default();
        event.record(&mut text);
        text.message.push_str(&text.fields);
        // A log line that cannot be written has nowhere to be reported: the app goes on.
        let _ = self
            .logs
            .log(level, event.metadata().target(), &text.message);
    }
}
