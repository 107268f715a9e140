#![doc = include_str!("../README.md")]

mod error;
mod transport;
mod updater;

pub use error::Error;
pub use updater::{Config, Feed, Update, Updater};
