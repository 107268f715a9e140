#![doc = include_str!("../README.md")]

pub mod envelope;
pub mod interpret;
pub mod record;
pub mod session;

pub use record::{Batch, Record, Scope};
