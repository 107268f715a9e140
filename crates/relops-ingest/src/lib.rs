#![doc = include_str!("../README.md")]

pub mod envelope;
pub mod interpret;
pub mod record;
pub mod session;
pub mod tally;

pub use record::{Batch, Record, Scope};
pub use tally::{Counted, Tally, tallies};
