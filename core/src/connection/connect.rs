//! Connecting: the tokio-postgres configuration, the session's own
//! settings, and failures rendered in words an operator can act on.

use deadpool_postgres::tokio_postgres::config::{SslMode, SslNegotiation};
use deadpool_postgres::tokio_postgres::error::SqlState;
use std::time::Duration;

use deadpool_postgres::tokio_postgres::types::Type;
use deadpool_postgres::tokio_postgres::{self, CancelToken, NoTls};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError};
use rustls::{AlertDescription, CertificateError};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::tls::Tls;
use super::{ConnectionTarget, Host};
use crate::ident::quote_ident;
use crate::{Error, Result};

pub(super) async fn connect(target: &ConnectionTarget) -> Result<Object> {
    let attempt = try_connect(target);
    let outcome = match target.connect_timeout {
        // tokio-postgres's own timeout covers only opening the socket; a
        // server that accepts and then never answers must not hang a
        // rotation at 3 a.m.
        Some(limit) => tokio::time::timeout(limit, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "no answer within {} s (raise connect_timeout in the URL to wait longer)",
                    limit.as_secs()
                ))
            }),
        None => attempt.await,
    };
    outcome.map_err(|reason| Error::DbConnect {
        target: target.describe(),
        reason,
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
            Some(tls) => match tls.client_config() {
                Ok(config) => token.cancel_query(MakeRustlsConnect::new(config)).await,
                Err(_) => Ok(()),
            },
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), attempt).await;
}

async fn try_connect(target: &ConnectionTarget) -> Result<Object, String> {
    let config = pg_config(target);
    let manager = match &target.tls {
        None => Manager::from_config(config, NoTls, ManagerConfig::default()),
        Some(tls) => Manager::from_config(
            config,
            MakeRustlsConnect::new(tls.client_config()?),
            ManagerConfig::default(),
        ),
    };
    let pool = Pool::builder(manager)
        .max_size(1)
        .build()
        .map_err(|e| format!("cannot set up the connection: {e}"))?;
    let client = pool.get().await.map_err(|e| match e {
        PoolError::Backend(e) => render_error(&e, target),
        other => other.to_string(),
    })?;

    // A missing schema would otherwise look like a database without
    // encrypted columns, and a rotation would "succeed" having done
    // nothing. Asked, not set: nothing session-level may outlive a run on a
    // connection a pooler shares, so every statement names its schema.
    let usable: Option<bool> = client
        .query_typed_opt(
            "SELECT pg_catalog.has_schema_privilege(n.oid, 'USAGE') FROM pg_catalog.pg_namespace n WHERE n.nspname = $1",
            &[(&target.schema, Type::TEXT)],
        )
        .await
        .map_err(|e| format!("cannot set up the session: {}", render_error(&e, target)))?
        .map(|row| row.get(0));
    match usable {
        Some(true) => {}
        Some(false) => {
            return Err(format!(
            "this user may not use schema {} (check ?schema= in the URL, and the user's grants)",
            quote_ident(&target.schema)
        ))
        }
        None => {
            return Err(format!(
                "schema {} does not exist in this database (check ?schema= in the URL)",
                quote_ident(&target.schema)
            ))
        }
    }
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
            true => "the connection goes through a pooler in statement mode (PgBouncer pool_mode = statement), which cannot run a transaction, and a rotation is one: connect directly, or through a pool in session or transaction mode".to_owned(),
            false => format!("cannot set up the session: {}", render_error(&e, target)),
        });
    }
    Ok(client)
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

/// What failed, in words, followed by the underlying error. tokio-postgres
/// says only "db error" for a server error; the server's own message is in
/// the source chain, and so is a TLS failure.
fn render_error(error: &tokio_postgres::Error, target: &ConnectionTarget) -> String {
    if let Some(db) = error.as_db_error() {
        let server = format!("{db} [SQLSTATE {}]", db.code().code());
        return match server_refusal(db.message(), db.code(), target) {
            Some(words) => format!("{words} (server: {server})"),
            None => server,
        };
    }
    let mut text = error.to_string();
    let mut words = None;
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        words = words.or_else(|| tls_refusal(cause, target));
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    if text.contains("server does not support TLS") {
        words = Some(
            "the URL asks for TLS, but the server does not offer it (its ssl setting is off)"
                .to_owned(),
        );
    }
    let direct = target.tls.as_ref().is_some_and(|t| t.direct);
    if words.is_none() && direct && text.contains("tls handshake eof") {
        words = Some(
            "the server does not offer direct TLS: it hung up at once (sslnegotiation=direct needs PostgreSQL 17 or later)"
                .to_owned(),
        );
    }
    match words {
        Some(words) => format!("{words} ({text})"),
        None => text,
    }
}

/// The server's refusals that are about TLS or client certificates.
fn server_refusal(message: &str, code: &SqlState, target: &ConnectionTarget) -> Option<String> {
    // Only a connection without TLS is "no encryption".
    if message.contains("no encryption") {
        return Some(
            "the server requires TLS: its pg_hba.conf rejects connections without encryption; \
             add sslmode=verify-full to the URL (with sslrootcert if the server's CA is your own)"
                .to_owned(),
        );
    }
    if message.contains("requires a valid client certificate") {
        return Some(
            "the server requires a client certificate, and none was sent: give sslcert and sslkey in the URL"
                .to_owned(),
        );
    }
    if code == &SqlState::INVALID_PASSWORD
        && target.tls.as_ref().is_some_and(|t| t.client.is_some())
    {
        return Some(
            "password authentication failed, or the server refused the client certificate (PostgreSQL reports a client certificate whose CN is not the user name this way)"
                .to_owned(),
        );
    }
    None
}

fn tls_refusal(
    cause: &(dyn std::error::Error + 'static),
    target: &ConnectionTarget,
) -> Option<String> {
    let tls = cause.downcast_ref::<rustls::Error>().or_else(|| {
        cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    })?;
    let cas = target
        .tls
        .as_ref()
        .map(Tls::trusted_cas)
        .unwrap_or_default();
    Some(match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => format!(
            "the server's certificate is signed by an unknown certificate authority (trusted: {cas})"
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => format!(
            "wrong host name: the server's certificate is not for {:?}; connect by a name the certificate lists",
            target.host()
        ),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "the server's certificate has expired".to_owned(),
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => "the server's certificate is not valid yet".to_owned(),
        rustls::Error::InvalidCertificate(_) => "the server's certificate was refused".to_owned(),
        // PostgreSQL checks a client certificate's chain in the handshake.
        rustls::Error::AlertReceived(
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked,
        ) if target.tls.as_ref().is_some_and(|t| t.client.is_some()) => {
            "the server refused the client certificate (it does not trust the CA that signed it, or the certificate is not valid)".to_owned()
        }
        _ => return None,
    })
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
