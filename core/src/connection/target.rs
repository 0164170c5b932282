//! A parsed `DATABASE_URL`: the server, database, user and session settings
//! it names, and how the run's reports name them. The password is kept
//! zeroized and never shown. `parse` and `connect` are in the module's root,
//! the one place that imports both the URL's reading and connecting.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use super::tls::{Check, Tls};

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
    pub(super) host: Host,
    pub(super) port: u16,
    pub(super) user: String,
    pub(super) password: Option<Zeroizing<Vec<u8>>>,
    pub(super) database: String,
    pub(super) schema: String,
    pub(super) application_name: String,
    pub(super) options: Option<String>,
    pub(super) connect_timeout: Option<Duration>,
    /// `None`: no TLS at all, as node-postgres without `ssl`/`sslmode`.
    pub(super) tls: Option<Tls>,
    pub(super) notices: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Host {
    Tcp(String),
    Unix(PathBuf),
}

impl ConnectionTarget {
    /// Whether connecting checks the server's certificate against the
    /// default CAs (no `sslrootcert`): only then does the binding need to
    /// hand over the CAs the running Node bundles.
    pub fn trusts_default_cas(&self) -> bool {
        self.tls
            .as_ref()
            .is_some_and(|t| t.rootcert.is_none() && t.check != Check::Nothing)
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
