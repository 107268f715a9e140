#![doc = include_str!("../README.md")]

pub mod bundles;
pub mod crash;
mod error;
pub mod install;
pub mod logs;
pub mod project;
mod queue;
pub mod sdk;
pub mod session;
mod transport;
mod updater;

pub use bundles::{AttachTo, BundleConfig, LogBundles};
pub use crash::{CrashConfig, CrashReporter, UploadReport};
pub use error::Error;
pub use logs::{LogConfig, LogLayer, Logs};
pub use sdk::{Flushed, Sdk, SdkConfig};
pub use session::{SessionConfig, SessionUploadReport, Sessions};
pub use updater::{Config, Feed, Update, Updater};
