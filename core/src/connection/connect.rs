//! Connecting: the tokio-postgres configuration, and the checks that the
//! session can serve a run, with failures as typed reasons until they
//! leave as `Error::DbConnect`.

use std::fmt;
use std::time::Duration;

use deadpool_postgres::tokio_postgres::config::{SslMode, SslNegotiation};
use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::types::Type;
use deadpool_postgres::tokio_postgres::{self, CancelToken, NoTls};
use deadpool_postgres::{BuildError, Manager, ManagerConfig, Object, Pool, PoolError};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::refusal::Failure;
use super::rustls_config::{client_config, ConfigError};
use super::target::{ConnectionTarget, Host};
use super::tls::Tls;
use crate::ident::quote_ident;
use crate::{Error, Result};

/// Why a connection cannot serve a run. Each becomes `Error::DbConnect`,
/// with these words as its reason.
#[derive(Debug)]
enum ConnectError {
    /// `connect_timeout` passed without the server answering.
    NoAnswer(Duration),
    /// TLS cannot be set up: a file it needs, or rustls itself.
    Tls(ConfigError),
    /// The pool of one cannot be built.
    Pool(BuildError),
    /// Catch-all: the pool failed to hand out a connection other than by
    /// the server's or the driver's error.
    PoolGet(PoolError),
    /// The server or the driver refused the connection.
    Refused(Failure),
    /// A statement checking the session failed.
    Session(Failure),
    /// The schema exists, and this user may not use it.
    SchemaNotUsable(String),
    /// The schema does not exist in this database.
    SchemaMissing(String),
    /// A pooler in statement mode, which cannot hold a transaction.
    StatementPooler,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::NoAnswer(limit) => write!(
                f,
                "no answer within {} s (raise connect_timeout in the URL to wait longer)",
                limit.as_secs()
            ),
            ConnectError::Tls(e) => write!(f, "{e}"),
            ConnectError::Pool(e) => write!(f, "cannot set up the connection: {e}"),
            ConnectError::PoolGet(e) => write!(f, "{e}"),
            ConnectError::Refused(failure) => write!(f, "{failure}"),
            ConnectError::Session(failure) => write!(f, "cannot set up the session: {failure}"),
            ConnectError::SchemaNotUsable(schema) => write!(
                f,
                "this user may not use schema {} (check ?schema= in the URL, and the user's grants)",
                quote_ident(schema)
            ),
            ConnectError::SchemaMissing(schema) => write!(
                f,
                "schema {} does not exist in this database (check ?schema= in the URL)",
                quote_ident(schema)
            ),
            ConnectError::StatementPooler => f.write_str(
                "the connection goes through a pooler in statement mode (PgBouncer pool_mode = statement), which cannot run a transaction, and a rotation is one: connect directly, or through a pool in session or transaction mode",
            ),
        }
    }
}

pub(super) async fn connect(target: &ConnectionTarget) -> Result<Object> {
    let attempt = try_connect(target);
    let outcome = match target.connect_timeout {
        // tokio-postgres's own timeout covers only opening the socket; a
        // server that accepts and then never answers must not hang a
        // rotation at 3 a.m.
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or(Err(ConnectError::NoAnswer(limit))),
        None => attempt.await,
    };
    outcome.map_err(|reason| Error::DbConnect {
        target: target.describe(),
        reason: reason.to_string(),
    })
}

/// Ask the server to stop what the session behind `token` is running: a
/// cancelled run's statement would otherwise go on, holding its locks,
/// until the server notices the connection is gone. Best effort, and never
/// longer than a second: the transaction is rolled back either way.
pub(super) async fn cancel(target: &ConnectionTarget, token: CancelToken) {
    let attempt = async {
        match &target.tls {
            None => token.cancel_query(NoTls).await,
            Some(tls) => match client_config(tls) {
                Ok(config) => token.cancel_query(MakeRustlsConnect::new(config)).await,
                Err(_) => Ok(()),
            },
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), attempt).await;
}

async fn try_connect(target: &ConnectionTarget) -> Result<Object, ConnectError> {
    let client = open(target).await?;
    check_schema(&client, target).await?;
    // A pooler in statement mode hands out a server connection per
    // statement and refuses a transaction left open after one, with a
    // protocol violation: a run cannot be one transaction through it.
    let begun = client.batch_execute("BEGIN READ ONLY").await;
    let ended = match begun {
        Ok(()) => client.batch_execute("ROLLBACK").await,
        Err(e) => Err(e),
    };
    if let Err(e) = ended {
        return Err(match e.code() == Some(&SqlState::PROTOCOL_VIOLATION) {
            true => ConnectError::StatementPooler,
            false => ConnectError::Session(Failure::of(&e, target)),
        });
    }
    Ok(client)
}

/// A connection from a pool of one, over TLS when the URL asks for it.
async fn open(target: &ConnectionTarget) -> Result<Object, ConnectError> {
    let config = pg_config(target);
    let manager = match &target.tls {
        None => Manager::from_config(config, NoTls, ManagerConfig::default()),
        Some(tls) => Manager::from_config(
            config,
            MakeRustlsConnect::new(client_config(tls).map_err(ConnectError::Tls)?),
            ManagerConfig::default(),
        ),
    };
    let pool = Pool::builder(manager)
        .max_size(1)
        .build()
        .map_err(ConnectError::Pool)?;
    pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => ConnectError::Refused(Failure::of(&e, target)),
        other => ConnectError::PoolGet(other),
    })
}

/// A missing schema would otherwise look like a database without
/// encrypted columns, and a rotation would "succeed" having done nothing.
/// Asked, not set: nothing session-level may outlive a run on a connection
/// a pooler shares, so every statement names its schema.
async fn check_schema(client: &Object, target: &ConnectionTarget) -> Result<(), ConnectError> {
    let usable: Option<bool> = client
        .query_typed_opt(
            "SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE') FROM pg_catalog.pg_namespace n WHERE n.nspname = $1",
            &[(&target.schema, Type::TEXT)],
        )
        .await
        .map_err(|e| ConnectError::Session(Failure::of(&e, target)))?
        .map(|row| row.get(0));
    match usable {
        Some(true) => Ok(()),
        Some(false) => Err(ConnectError::SchemaNotUsable(target.schema.clone())),
        None => Err(ConnectError::SchemaMissing(target.schema.clone())),
    }
}

fn pg_config(target: &ConnectionTarget) -> tokio_postgres::Config {
    let mut config = tokio_postgres::Config::new();
    match &target.host {
        Host::Tcp(host) => config.host(host),
        Host::Unix(dir) => config.host_path(dir),
    };
    config
        .port(target.port)
        .user(&target.user)
        .dbname(&target.database)
        .application_name(&target.application_name)
        // As node-postgres: when the URL asks for TLS there is no falling
        // back to plaintext, whatever sslmode says.
        .ssl_mode(match target.tls {
            Some(_) => SslMode::Require,
            None => SslMode::Disable,
        })
        .ssl_negotiation(match target.tls {
            Some(Tls { direct: true, .. }) => SslNegotiation::Direct,
            _ => SslNegotiation::Postgres,
        });
    if let Some(password) = &target.password {
        config.password(password.as_slice());
    }
    if let Some(options) = &target.options {
        config.options(options);
    }
    if let Some(timeout) = target.connect_timeout {
        config.connect_timeout(timeout);
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zq9-Unmistakable-Secret";

    #[tokio::test]
    async fn connect_failures_are_db_connect_errors_without_the_password() {
        // Port 1 on loopback: nothing listens there, so this fails at once.
        let t = ConnectionTarget::parse(&format!(
            "postgres://u:{SECRET}@127.0.0.1:1/app?sslmode=disable"
        ))
        .unwrap();
        let err = t.connect().await.unwrap_err();
        let Error::DbConnect { target, reason } = &err else {
            panic!("expected DbConnect, got {err:?}");
        };
        assert_eq!(target, "127.0.0.1:1/app");
        assert!(!reason.is_empty());
        assert!(!format!("{err} {err:?}").contains(SECRET));
    }

    #[tokio::test]
    async fn an_unreadable_root_certificate_fails_before_connecting() {
        let t = ConnectionTarget::parse(
            "postgres://u@127.0.0.1:1/app?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        )
        .unwrap();
        let err = t.connect().await.unwrap_err();
        assert_eq!(err.code(), "ERR_DB_CONNECT");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
