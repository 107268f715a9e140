#![doc = include_str!("../README.md")]

pub mod crash;
mod error;
mod transport;
mod updater;

pub use crash::{CrashConfig, CrashReporter, UploadReport};
pub use error::Error;
pub use updater::{Config, Feed, Update, Updater};
