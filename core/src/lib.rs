//! keyrotate's core: everything that rotates AnythingMCP's `ENCRYPTION_KEY`,
//! in plain Rust so `cargo test` exercises it without Node.
#![forbid(unsafe_code)]

pub mod aad;
pub mod cancel;
pub mod connection;
pub mod document;
pub mod envelope;
pub mod error;
pub mod ident;
pub mod key;
pub mod locations;
pub mod outcome;
pub mod report;
pub mod rotation;
pub mod warning;

pub use error::{Error, KeyRole, Result, ValueAddress};
