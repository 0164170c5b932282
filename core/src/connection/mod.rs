//! Turns AnythingMCP's `DATABASE_URL` into a connected PostgreSQL client.
//!
//! The backend's driver is node-postgres, which reads the URL with
//! `pg-connection-string`; keyrotate reads it the same way
//! (docs/connection.md), so the same URL reaches the same server, database
//! and user, with the same TLS, and is never checked less strictly.
//!
//! Each module imports only those listed before it, never this one:
//! - [`echo`]: what may be repeated from the URL in notices and errors;
//! - [`tls`]: what `ssl`, `sslmode`, `uselibpqcompat`, `sslrootcert`,
//!   `sslcert`, `sslkey` and `sslnegotiation` mean (policy only);
//! - [`target`]: the parsed URL, and how reports name it;
//! - [`url`]: reading the URL's parts and parameters into a target;
//! - [`certs`]: the trusted CAs and the client certificate;
//! - [`verifier`]: the server certificate checked as Node does;
//! - [`rustls_config`]: the rustls configuration for a target's TLS;
//! - [`refusal`]: a failed connection's meaning, in words;
//! - [`connect`]: connecting, and the checks on the session.
//!
//! Errors inside the module are its own typed enums, turned into the
//! crate's where they leave it: `Error::InvalidArgument` from `url`,
//! `Error::DbConnect` from `connect`, `Error::Internal` from
//! [`trust_node_bundled_cas`]. The password never appears in an error, a
//! notice, `describe()` or `Debug`.
//! Text taken from the part of the URL before the host is never echoed at
//! all, because a password with an unencoded `/`, `?` or `#` spills into it.

mod certs;
mod connect;
mod echo;
mod refusal;
mod rustls_config;
mod target;
mod tls;
mod url;
mod verifier;

use deadpool_postgres::Object;

use crate::Result;

pub use certs::trust_node_bundled_cas;
pub use target::{ConnectionTarget, DatabaseIdentity};
pub use url::DEFAULT_SCHEMA;

impl ConnectionTarget {
    /// Parse a `DATABASE_URL` as the backend's driver does. Never puts the
    /// password in any error.
    pub fn parse(url: &str) -> Result<Self> {
        url::parse_on(url, &url::ThisMachine)
    }

    /// Connect through a pool of one, with `application_name` set, and check
    /// that [`schema`](Self::schema) exists and this user may use it, and
    /// that the connection can hold a transaction. Nothing session-level is
    /// set: a pooler may share the connection. Every failure, including a
    /// schema that does not exist, is `Error::DbConnect`, whose reason says
    /// in words what failed. Needs a Tokio runtime with timers enabled.
    pub async fn connect(&self) -> Result<Object> {
        connect::connect(self).await
    }

    /// Best effort, within a second: stop the statement the session behind
    /// `token` runs (a cancelled rotation's), so its locks go at once.
    pub async fn cancel_query(&self, token: tokio_postgres::CancelToken) {
        connect::cancel(self, token).await
    }
}
