//! A failed connection in words an operator can act on: what the server or
//! the driver said, led by what it means when keyrotate recognises it. It is
//! recognised by SQLSTATE and by the type of the error, which neither the
//! server's `lc_messages` nor a new release of a dependency rewords; by a
//! message's words only in the two cases where nothing else tells it apart.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use deadpool_postgres::tokio_postgres::error::{DbError, SqlState};
use deadpool_postgres::tokio_postgres::Error as PgError;
use rustls::{AlertDescription, CertificateError};

use super::certs::{self, EXTRA_CA_VARIABLE};
use super::target::ConnectionTarget;
use super::tls::Tls;

/// The only wording keyrotate matches in a driver's error. tokio-postgres
/// reports a server that answers "no" to the TLS request with its TLS kind,
/// which it does not expose, and a bare string, whose type is private; so
/// its words are all that tell this case from a failed handshake.
const SERVER_WITHOUT_TLS: &str = "server does not support TLS";

/// The C function PostgreSQL raises pg_hba.conf's refusals in. Unlike the
/// message, it is not translated with `lc_messages`.
const CLIENT_AUTHENTICATION: &str = "ClientAuthentication";

/// A failure the server or the driver reported, with what it means when
/// that is known.
#[derive(Debug)]
pub(super) struct Failure {
    meaning: Option<Refusal>,
    said: Said,
}

/// Who reported the failure, in their own words.
#[derive(Debug)]
enum Said {
    /// The server's message, with its SQLSTATE.
    Server(String),
    /// The driver's error, followed by its causes.
    Driver(String),
}

/// What a failure means, where keyrotate recognises it.
#[derive(Debug)]
enum Refusal {
    /// pg_hba.conf turns away a connection without TLS.
    ServerRequiresTls,
    /// pg_hba.conf's `clientcert` asks for a certificate none was sent.
    ClientCertificateRequired,
    /// A wrong password, or a client certificate whose CN is not the user.
    PasswordOrClientCertificate,
    /// No trusted CA signed the server's certificate.
    UnknownIssuer {
        trusted: String,
    },
    /// The server's certificate does not name the host.
    WrongHostName {
        host: String,
    },
    CertificateExpired,
    CertificateNotValidYet,
    /// Any other reason rustls refuses the server's certificate.
    CertificateRefused,
    /// The server refused the client certificate in the handshake.
    ClientCertificateRefused,
    /// The URL asks for TLS and the server has it off.
    ServerWithoutTls,
    /// Direct TLS to a server that does not speak it (before PostgreSQL 17).
    NoDirectTls,
}

impl Failure {
    /// What `error` means for a connection to `target`. tokio-postgres says
    /// only "db error" for a server error; the server's own message is in
    /// the source chain, and so is a TLS failure.
    pub(super) fn of(error: &PgError, target: &ConnectionTarget) -> Failure {
        if let Some(db) = error.as_db_error() {
            return Failure {
                meaning: server_refusal(db, target),
                said: Said::Server(format!("{db} [SQLSTATE {}]", db.code().code())),
            };
        }
        let causes: Vec<&(dyn StdError + 'static)> =
            std::iter::successors(error.source(), |&cause| cause.source()).collect();
        let mut text = error.to_string();
        for cause in &causes {
            text.push_str(": ");
            text.push_str(&cause.to_string());
        }
        let mut meaning = causes.iter().find_map(|cause| tls_refusal(*cause, target));
        if causes.iter().any(|c| c.to_string() == SERVER_WITHOUT_TLS) {
            meaning = Some(Refusal::ServerWithoutTls);
        }
        let direct = target.tls.as_ref().is_some_and(|t| t.direct);
        if meaning.is_none() && direct && causes.iter().any(|c| hung_up_in_handshake(*c)) {
            meaning = Some(Refusal::NoDirectTls);
        }
        Failure {
            meaning,
            said: Said::Driver(text),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.meaning, &self.said) {
            (Some(meaning), Said::Server(server)) => write!(f, "{meaning} (server: {server})"),
            (Some(meaning), Said::Driver(text)) => write!(f, "{meaning} ({text})"),
            (None, Said::Server(text) | Said::Driver(text)) => f.write_str(text),
        }
    }
}

/// The server's refusals that are about TLS or client certificates.
fn server_refusal(db: &DbError, target: &ConnectionTarget) -> Option<Refusal> {
    let tls = target.tls.as_ref();
    let code = db.code();
    let by_pg_hba = code == &SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        && db.routine() == Some(CLIENT_AUTHENTICATION);
    // Without TLS, ClientAuthentication refuses with this SQLSTATE only
    // when pg_hba.conf has no line that takes the connection or one that
    // rejects it (its client-certificate check is for hostssl lines alone).
    if by_pg_hba && tls.is_none() {
        return Some(Refusal::ServerRequiresTls);
    }
    // Over TLS, a missing client certificate and a missing pg_hba.conf line
    // share the SQLSTATE, the function and an empty detail: only the
    // server's words tell them apart.
    if by_pg_hba && db.message().contains("requires a valid client certificate") {
        return Some(Refusal::ClientCertificateRequired);
    }
    if code == &SqlState::INVALID_PASSWORD && tls.is_some_and(|t| t.client.is_some()) {
        return Some(Refusal::PasswordOrClientCertificate);
    }
    None
}

/// A rustls error in the chain, directly or inside tokio-rustls's
/// `io::Error`, that says what was wrong with a certificate.
fn tls_refusal(cause: &(dyn StdError + 'static), target: &ConnectionTarget) -> Option<Refusal> {
    let tls = cause.downcast_ref::<rustls::Error>().or_else(|| {
        cause
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    })?;
    Some(match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            Refusal::UnknownIssuer {
                trusted: target.tls.as_ref().map(trusted_cas).unwrap_or_default(),
            }
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => Refusal::WrongHostName {
            host: target.host(),
        },
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => Refusal::CertificateExpired,
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. },
        ) => Refusal::CertificateNotValidYet,
        rustls::Error::InvalidCertificate(_) => Refusal::CertificateRefused,
        // PostgreSQL checks a client certificate's chain in the handshake.
        rustls::Error::AlertReceived(
            AlertDescription::UnknownCA
            | AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateUnknown
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateRevoked,
        ) if target.tls.as_ref().is_some_and(|t| t.client.is_some()) => {
            Refusal::ClientCertificateRefused
        }
        _ => return None,
    })
}

/// tokio-rustls's end of input before the handshake finished: a server
/// that hung up on the first TLS message.
fn hung_up_in_handshake(cause: &(dyn StdError + 'static)) -> bool {
    cause
        .downcast_ref::<io::Error>()
        .is_some_and(|io| io.kind() == io::ErrorKind::UnexpectedEof)
}

/// Where the trusted CAs come from, for error messages.
fn trusted_cas(tls: &Tls) -> String {
    match &tls.rootcert {
        Some(path) => format!("the CAs in sslrootcert {}", path.display()),
        None => format!(
            "{}, plus any in {EXTRA_CA_VARIABLE}; give the server's CA with sslrootcert=/path/to/ca.pem",
            certs::default_cas()
        ),
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::ServerRequiresTls => f.write_str(
                "the server requires TLS: its pg_hba.conf rejects connections without encryption; \
                 add sslmode=verify-full to the URL (with sslrootcert if the server's CA is your own)",
            ),
            Refusal::ClientCertificateRequired => f.write_str(
                "the server requires a client certificate, and none was sent: give sslcert and sslkey in the URL",
            ),
            Refusal::PasswordOrClientCertificate => f.write_str(
                "password authentication failed, or the server refused the client certificate (PostgreSQL reports a client certificate whose CN is not the user name this way)",
            ),
            Refusal::UnknownIssuer { trusted } => write!(
                f,
                "the server's certificate is signed by an unknown certificate authority (trusted: {trusted})"
            ),
            Refusal::WrongHostName { host } => write!(
                f,
                "wrong host name: the server's certificate is not for {host:?}; connect by a name the certificate lists"
            ),
            Refusal::CertificateExpired => f.write_str("the server's certificate has expired"),
            Refusal::CertificateNotValidYet => {
                f.write_str("the server's certificate is not valid yet")
            }
            Refusal::CertificateRefused => f.write_str("the server's certificate was refused"),
            Refusal::ClientCertificateRefused => f.write_str(
                "the server refused the client certificate (it does not trust the CA that signed it, or the certificate is not valid)",
            ),
            Refusal::ServerWithoutTls => f.write_str(
                "the URL asks for TLS, but the server does not offer it (its ssl setting is off)",
            ),
            Refusal::NoDirectTls => f.write_str(
                "the server does not offer direct TLS: it hung up at once (sslnegotiation=direct needs PostgreSQL 17 or later)",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    use super::*;

    /// A loopback server that, for one connection, reads what the client
    /// sends first, writes `reply` and hangs up, having read all it was sent.
    fn answering_once(read_first: fn(&mut TcpStream), reply: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            read_first(&mut socket);
            socket.write_all(reply).unwrap();
        });
        port
    }

    async fn reason(url: &str) -> String {
        let target = ConnectionTarget::parse(url).unwrap();
        match target.connect().await {
            Err(crate::Error::DbConnect { reason, .. }) => reason,
            other => panic!("expected DbConnect, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_server_that_declines_tls_is_named_in_words() {
        // PostgreSQL's TLS request is 8 bytes; "N" declines it.
        let port = answering_once(|s| s.read_exact(&mut [0; 8]).unwrap(), b"N");
        let reason = reason(&format!(
            "postgres://u@127.0.0.1:{port}/app?sslmode=no-verify"
        ))
        .await;
        assert!(
            reason.starts_with("the URL asks for TLS, but the server does not offer it"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_server_that_hangs_up_on_direct_tls_is_named_in_words() {
        // What a server before PostgreSQL 17 does with a TLS hello: it reads
        // it as a startup packet, refuses it and closes.
        let read_hello = |s: &mut TcpStream| {
            let mut header = [0; 5];
            s.read_exact(&mut header).unwrap();
            let length = u16::from_be_bytes([header[3], header[4]]);
            s.read_exact(&mut vec![0; usize::from(length)]).unwrap();
        };
        let port = answering_once(read_hello, b"");
        let url =
            format!("postgres://u@127.0.0.1:{port}/app?sslnegotiation=direct&sslmode=no-verify");
        let reason = reason(&url).await;
        assert!(
            reason.starts_with("the server does not offer direct TLS: it hung up at once"),
            "{reason}"
        );
    }
}
