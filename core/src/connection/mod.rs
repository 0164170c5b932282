//! Turns AnythingMCP's `DATABASE_URL` into a connected PostgreSQL client.
//!
//! The backend's driver is node-postgres, which reads the URL with
//! `pg-connection-string`; keyrotate reads it the same way (SPEC 1, "How the
//! backend connects"), so the same URL reaches the same server, database and
//! user, with the same TLS, and is never checked less strictly:
//! - [`url`]: the URL's parts and parameters;
//! - [`tls`]: what `ssl`, `sslmode`, `uselibpqcompat`, `sslrootcert`,
//!   `sslcert`, `sslkey` and `sslnegotiation` mean, and the rustls
//!   configuration for it; [`certs`]: the trusted CAs and the client
//!   certificate; [`verifier`]: the server certificate checked as Node does;
//! - [`connect`]: connecting, the session's settings, and errors in words.
//!
//! The password never appears in an error, a notice, `describe()` or `Debug`.
//! Text taken from the part of the URL before the host is never echoed at
//! all, because a password with an unencoded `/`, `?` or `#` spills into it.

mod certs;
mod connect;
mod tls;
mod url;
mod verifier;

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use deadpool_postgres::Object;
use zeroize::Zeroizing;

use crate::Result;

pub use certs::trust_node_bundled_cas;

/// The database a run acts on, for prompts and reports.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DatabaseIdentity {
    pub user: String,
    /// Host name or address, or the socket directory.
    pub host: String,
    pub port: u16,
    pub database: String,
    pub schema: String,
}

impl fmt::Display for DatabaseIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "database {} on {}:{} as {}, schema {}",
            self.database, self.host, self.port, self.user, self.schema
        )
    }
}

/// A parsed `DATABASE_URL`, ready to connect.
pub struct ConnectionTarget {
    host: Host,
    port: u16,
    user: String,
    password: Option<Zeroizing<Vec<u8>>>,
    database: String,
    schema: String,
    application_name: String,
    options: Option<String>,
    connect_timeout: Option<Duration>,
    /// `None`: no TLS at all, as node-postgres without `ssl`/`sslmode`.
    tls: Option<tls::Tls>,
    notices: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Tcp(String),
    Unix(PathBuf),
}

impl ConnectionTarget {
    /// Parse a `DATABASE_URL` as the backend's driver does. Never puts the
    /// password in any error.
    pub fn parse(url: &str) -> Result<Self> {
        url::parse_on(url, &url::ThisMachine)
    }

    /// Whether connecting checks the server's certificate against the
    /// default CAs (no `sslrootcert`): only then does the binding need to
    /// hand over the CAs the running Node bundles.
    pub fn trusts_default_cas(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| t.rootcert.is_none() && t.check != tls::Check::Nothing)
    }

    /// PostgreSQL schema the tables live in: `?schema=` or "public".
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Things the operator should know about how the URL was read, such as
    /// parameters that were ignored.
    pub fn notices(&self) -> &[String] {
        &self.notices
    }

    /// `host:port/database`; for a Unix socket the host is the socket
    /// directory. Never names the user or the password.
    pub fn describe(&self) -> String {
        match &self.host {
            Host::Tcp(host) if host.contains(':') => {
                format!("[{host}]:{}/{}", self.port, self.database)
            }
            Host::Tcp(host) => format!("{host}:{}/{}", self.port, self.database),
            Host::Unix(dir) => format!("{}:{}/{}", dir.display(), self.port, self.database),
        }
    }

    /// The host name or address (IPv6 without brackets), or the socket
    /// directory for a Unix socket.
    pub fn host(&self) -> String {
        match &self.host {
            Host::Tcp(host) => host.clone(),
            Host::Unix(dir) => dir.display().to_string(),
        }
    }

    pub fn database(&self) -> String {
        self.database.clone()
    }

    /// What a run acts on, as an operator names it: user, host, port,
    /// database and schema. Never the password.
    pub fn identity(&self) -> DatabaseIdentity {
        DatabaseIdentity {
            user: self.user.clone(),
            host: self.host(),
            port: self.port,
            database: self.database.clone(),
            schema: self.schema.clone(),
        }
    }

    /// Connect through a pool of one, with `application_name` set, the
    /// session's `search_path` set to [`schema`](Self::schema), and the
    /// server's statement, idle-in-transaction and transaction timeouts off
    /// for this session. Every failure, including a schema that does not
    /// exist, is `Error::DbConnect`, whose reason says in words what failed.
    /// Needs a Tokio runtime with timers enabled.
    pub async fn connect(&self) -> Result<Object> {
        connect::connect(self).await
    }

    /// Best effort, within a second: stop the statement the session behind
    /// `token` runs (a cancelled rotation's), so its locks go at once.
    pub async fn cancel_query(&self, token: tokio_postgres::CancelToken) {
        connect::cancel(self, token).await
    }
}

impl fmt::Debug for ConnectionTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("database", &self.database)
            .field("schema", &self.schema)
            .field("application_name", &self.application_name)
            .field("options", &self.options)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls)
            .field("notices", &self.notices)
            .finish()
    }
}
