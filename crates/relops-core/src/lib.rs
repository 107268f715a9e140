#![doc = include_str!("../README.md")]

pub mod access;
pub mod alert;
pub mod artifact;
pub mod calendar;
pub mod checklist;
pub mod data_schema;
pub mod health;
pub mod mail;
pub mod offer;
pub mod platform;
pub mod release;
pub mod retention;
pub mod rollout;
#[cfg(feature = "schema")]
mod schema;
pub mod sla;
pub mod text;
pub mod ticket;
pub mod version;
