//! Turns AnythingMCP's `DATABASE_URL` into a connected PostgreSQL client.
//!
//! The URL is a Prisma connection string. tokio-postgres's own parser rejects
//! Prisma's parameters and only knows `sslmode=disable|prefer|require`, so the
//! URL is parsed here, following libpq where Prisma and libpq agree, and turned
//! into a `tokio_postgres::Config` plus a rustls connector that gives every
//! `sslmode` its libpq meaning.
//!
//! The password never appears in an error, a notice, `describe()` or `Debug`.
//! Text taken from the part of the URL before the host is never echoed at
//! all, because a password with an unencoded `/`, `?` or `#` spills into it.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::tokio_postgres::config::SslMode as PgSslMode;
use deadpool_postgres::tokio_postgres::{self, NoTls, SimpleQueryMessage};
use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;
use zeroize::Zeroizing;

use crate::ident::quote_ident;
use crate::{Error, Result};

const DEFAULT_PORT: u16 = 5432;
const DEFAULT_SCHEMA: &str = "public";
const DEFAULT_APPLICATION_NAME: &str = "keyrotate";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Where libpq builds look for the server's socket when the URL names no
/// host: Debian's packages use the first, upstream's default is the second.
const SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// Parameters Prisma understands and PostgreSQL does not; `schema` and
/// `connect_timeout` are Prisma's too but are honoured.
const PRISMA_ONLY: [&str; 11] = [
    "connection_limit",
    "pool_timeout",
    "pgbouncer",
    "socket_timeout",
    "statement_cache_size",
    "sslaccept",
    "sslcert",
    "sslidentity",
    "sslpassword",
    "max_connection_lifetime",
    "max_idle_connection_lifetime",
];

/// The search path is a session setting, which a transaction-pooling
/// PgBouncer does not keep from one transaction to the next.
const PGBOUNCER_NOTICE: &str = "ignoring Prisma-only parameter pgbouncer; \
    connect keyrotate to PostgreSQL directly, not through a transaction-pooling PgBouncer";

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
    sslmode: SslMode,
    sslrootcert: Option<RootCert>,
    notices: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Host {
    Tcp(String),
    Unix(PathBuf),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    /// node-postgres's spelling of "TLS, but trust any certificate"; the
    /// backend's driver accepts it, so a URL that works there works here.
    NoVerify,
    VerifyCa,
    VerifyFull,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RootCert {
    System,
    File(PathBuf),
}

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

/// What parsing needs from the machine, so tests can pin it.
trait Machine {
    fn has_socket(&self, path: &Path) -> bool;
    fn user_name(&self) -> Option<String>;
}

struct ThisMachine;

impl Machine for ThisMachine {
    fn has_socket(&self, path: &Path) -> bool {
        path.exists()
    }

    fn user_name(&self) -> Option<String> {
        ["USER", "LOGNAME"]
            .iter()
            .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }
}

impl ConnectionTarget {
    /// Parse a Prisma-style URL. Never put the password in any error.
    pub fn parse(url: &str) -> Result<Self> {
        Self::parse_on(url, &ThisMachine)
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

    /// Connect through a pool of one, with `application_name` set and the
    /// session's `search_path` set to [`schema`](Self::schema). Every failure,
    /// including a schema that does not exist, is `Error::DbConnect`. Needs a
    /// Tokio runtime with timers enabled.
    pub async fn connect(&self) -> Result<Object> {
        let attempt = self.try_connect();
        let outcome = match self.connect_timeout {
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
            target: self.describe(),
            reason,
        })
    }

    async fn try_connect(&self) -> Result<Object, String> {
        let manager = match &self.host {
            // The server never offers TLS on a Unix socket, and
            // tokio-postgres-rustls refuses the empty host name tokio-postgres
            // hands it there, so the connector must not be rustls.
            Host::Unix(_) => {
                Manager::from_config(self.pg_config(), NoTls, ManagerConfig::default())
            }
            Host::Tcp(_) => Manager::from_config(
                self.pg_config(),
                MakeRustlsConnect::new(self.tls_config()?),
                ManagerConfig::default(),
            ),
        };
        let pool = Pool::builder(manager)
            .max_size(1)
            .build()
            .map_err(|e| format!("cannot set up the connection: {e}"))?;
        let client = pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => render_pg_error(&e),
            other => other.to_string(),
        })?;

        // A missing schema would otherwise look like a database without
        // encrypted columns, and a rotation would "succeed" having done
        // nothing. current_schema() is NULL when no schema on the search path
        // exists or is usable by this user.
        let sql = format!(
            "SET search_path TO {}; SELECT pg_catalog.current_schema()",
            quote_ident(&self.schema)
        );
        let messages = client
            .simple_query(&sql)
            .await
            .map_err(|e| format!("cannot set search_path: {}", render_pg_error(&e)))?;
        let found = messages.iter().any(|m| match m {
            SimpleQueryMessage::Row(row) => row.get(0).is_some(),
            _ => false,
        });
        if !found {
            return Err(format!(
                "schema {} does not exist in this database, or this user may not use it (check ?schema= in the URL)",
                quote_ident(&self.schema)
            ));
        }
        Ok(client)
    }

    fn pg_config(&self) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        match &self.host {
            Host::Tcp(host) => config.host(host),
            Host::Unix(dir) => config.host_path(dir),
        };
        config
            .port(self.port)
            .user(&self.user)
            .dbname(&self.database)
            .application_name(&self.application_name)
            .ssl_mode(match self.sslmode {
                SslMode::Disable => PgSslMode::Disable,
                SslMode::Prefer => PgSslMode::Prefer,
                SslMode::Require | SslMode::NoVerify | SslMode::VerifyCa | SslMode::VerifyFull => {
                    PgSslMode::Require
                }
            });
        if let Some(password) = &self.password {
            config.password(password.as_slice());
        }
        if let Some(options) = &self.options {
            config.options(options);
        }
        if let Some(timeout) = self.connect_timeout {
            config.connect_timeout(timeout);
        }
        config
    }

    /// libpq checks the chain whenever it has a root certificate, even for
    /// `prefer` and `require`; the name only for `verify-full`.
    fn check(&self) -> Check {
        match (self.sslmode, &self.sslrootcert) {
            (SslMode::VerifyFull, _) => Check::ChainAndName,
            (SslMode::VerifyCa, _) | (SslMode::Prefer | SslMode::Require, Some(_)) => Check::Chain,
            _ => Check::Nothing,
        }
    }

    fn tls_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        let algorithms = provider.signature_verification_algorithms;
        let config = match self.check() {
            Check::Nothing => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(WithoutHostname {
                    roots: None,
                    algorithms,
                })),
            Check::Chain => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(WithoutHostname {
                    roots: Some(Arc::new(self.roots()?)),
                    algorithms,
                })),
            Check::ChainAndName => {
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(self.roots()?), provider)
                        .build()
                        .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
                builder.with_webpki_verifier(verifier)
            }
        };
        Ok(config.with_no_client_auth())
    }

    fn roots(&self) -> Result<RootCertStore, String> {
        let mut roots = RootCertStore::empty();
        match &self.sslrootcert {
            Some(RootCert::File(path)) => {
                let shown = path.display();
                let certs = CertificateDer::pem_file_iter(path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("cannot read sslrootcert {shown}: {e}"))?;
                if certs.is_empty() {
                    return Err(format!("sslrootcert {shown} holds no PEM certificate"));
                }
                for cert in certs {
                    roots
                        .add(cert)
                        .map_err(|e| format!("sslrootcert {shown} holds a bad certificate: {e}"))?;
                }
            }
            Some(RootCert::System) | None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default();
                    return Err(format!(
                        "no trusted CA certificates found on this system{why}; give the server's CA with sslrootcert=/path/to/ca.pem"
                    ));
                }
            }
        }
        Ok(roots)
    }

    fn parse_on(url: &str, machine: &dyn Machine) -> Result<Self> {
        let url = url.trim();
        let rest = strip_scheme(url)?;
        let mut notices = Vec::new();

        // A password with an unencoded '/', '?' or '#' ends the authority
        // early: its tail, the user info's '@' included, lands in the
        // database name, the query or the fragment, which describe(), errors
        // and notices do show (and its head becomes the host or port). So no
        // raw '@' may follow the authority; a literal one there is %40.
        if rest
            .find(['/', '?', '#'])
            .is_some_and(|end| rest[end..].contains('@'))
        {
            return Err(Error::invalid_argument(format!(
                "the database URL has an '@' after the host; {ENCODE_HINT}"
            )));
        }

        let rest = match rest.split_once('#') {
            Some((before, _)) => {
                notices.push("ignoring the URL's #fragment".to_owned());
                before
            }
            None => rest,
        };
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query)),
            None => (rest, None),
        };
        let (authority, path) = match before_query.split_once('/') {
            Some((authority, path)) => (authority, Some(path)),
            None => (before_query, None),
        };
        // As in WHATWG URLs (what the backend's driver uses), the user info
        // ends at the last '@', so an unencoded '@' in a password still works.
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        if userinfo.is_none() && path.is_some_and(|p| p.contains('@')) {
            return Err(Error::invalid_argument(format!(
                "the database URL has an '@' after the host; {ENCODE_HINT}"
            )));
        }

        let mut user = None;
        let mut password = None;
        if let Some(userinfo) = userinfo {
            let (name, secret) = match userinfo.split_once(':') {
                Some((name, secret)) => (name, Some(secret)),
                None => (userinfo, None),
            };
            user = non_empty(decode_text(name, "user name")?);
            if let Some(secret) = secret {
                password = non_empty_secret(decode(secret, "password")?);
            }
        }

        let (mut host, mut port) = parse_hostport(hostport)?;
        let mut database = match path {
            Some(path) => non_empty(decode_text(path, "database name")?),
            None => None,
        };

        let mut schema = None;
        let mut application_name = None;
        let mut options = None;
        let mut connect_timeout = Some(DEFAULT_CONNECT_TIMEOUT);
        let mut sslmode = None;
        let mut sslrootcert = None;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let Some((key, value)) = pair.split_once('=') else {
                notices.push("ignoring a query parameter without '='".to_owned());
                continue;
            };
            let key = decode_text(key, "name of a query parameter")?;
            // Values of ignored parameters are not decoded, so a quirk in one
            // of them cannot stop a rotation.
            let text = || decode_text(value, &format!("value of the {key} parameter"));
            match key.as_str() {
                "password" => given(&mut password, non_empty_secret(decode(value, "password")?)),
                "host" => given(
                    &mut host,
                    non_empty(text()?)
                        .map(|v| parse_host_param(&v))
                        .transpose()?,
                ),
                "port" => given(&mut port, parse_port_param(&text()?)?),
                "user" => given(&mut user, non_empty(text()?)),
                "dbname" => given(&mut database, non_empty(text()?)),
                "schema" => given(&mut schema, non_empty(text()?)),
                "application_name" => given(&mut application_name, non_empty(text()?)),
                "options" => given(&mut options, non_empty(text()?)),
                "connect_timeout" => connect_timeout = parse_connect_timeout(&text()?)?,
                "sslmode" => given(&mut sslmode, parse_sslmode(&text()?, &mut notices)?),
                "sslrootcert" => given(
                    &mut sslrootcert,
                    non_empty(text()?).map(|v| match v.as_str() {
                        "system" => RootCert::System,
                        _ => RootCert::File(PathBuf::from(v)),
                    }),
                ),
                "pgbouncer" => notices.push(PGBOUNCER_NOTICE.to_owned()),
                name if PRISMA_ONLY.contains(&name) => {
                    notices.push(format!("ignoring Prisma-only parameter {name}"));
                }
                name if looks_like_a_name(name) => {
                    notices.push(format!("ignoring unsupported parameter {name}"));
                }
                _ => notices.push("ignoring a query parameter with an unusual name".to_owned()),
            }
        }

        let port = port.unwrap_or(DEFAULT_PORT);
        let host = match host {
            Some(host) => host,
            None => default_host(port, machine, &mut notices),
        };
        let sslmode = effective_sslmode(sslmode, sslrootcert.as_ref(), &host, &mut notices)?;
        if sslmode == SslMode::NoVerify && sslrootcert.is_some() {
            notices
                .push("sslmode=no-verify checks no certificate; ignoring sslrootcert".to_owned());
        }
        if matches!(sslmode, SslMode::VerifyCa | SslMode::VerifyFull) && sslrootcert.is_none() {
            notices.push(
                "no sslrootcert given: the server's certificate is checked against this system's trusted CAs"
                    .to_owned(),
            );
        }
        let user = user.or_else(|| machine.user_name()).ok_or_else(|| {
            Error::invalid_argument(
                "the database URL names no user, and the operating-system user is unknown ($USER is not set)",
            )
        })?;
        let database = database.unwrap_or_else(|| user.clone());

        Ok(ConnectionTarget {
            host,
            port,
            user,
            password,
            database,
            schema: schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned()),
            application_name: application_name
                .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_owned()),
            options,
            connect_timeout,
            sslmode,
            sslrootcert,
            notices,
        })
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
            .field("sslmode", &self.sslmode)
            .field("sslrootcert", &self.sslrootcert)
            .field("notices", &self.notices)
            .finish()
    }
}

const ENCODE_HINT: &str =
    "if the user name or password holds ':', '/', '?', '#', '@' or '%', percent-encode it (for example '/' as %2F)";

/// The scheme is not echoed either: with the scheme left out, what stands
/// before "://" could be anything.
fn strip_scheme(url: &str) -> Result<&str> {
    if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") {
            return Ok(rest);
        }
    }
    Err(Error::invalid_argument(
        "the database URL must start with postgres:// or postgresql://",
    ))
}

/// Splits `host[:port]` from the URL. Errors never echo it: when a password
/// holds an unencoded '/', its first part lands here.
fn parse_hostport(hostport: &str) -> Result<(Option<Host>, Option<u16>)> {
    if hostport.contains(',') {
        return Err(Error::invalid_argument(
            "the database URL names several hosts; keyrotate connects to one server, so give only the primary",
        ));
    }
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let (address, after) = bracketed.split_once(']').ok_or_else(|| {
            Error::invalid_argument("the database URL has an IPv6 address without its closing ']'")
        })?;
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(Error::invalid_argument(
                "the database URL has an invalid IPv6 address between '[' and ']'",
            ));
        }
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(|| {
                Error::invalid_argument("the database URL has text between ']' and the port")
            })?),
        };
        (Some(Host::Tcp(address.to_owned())), port)
    } else {
        let (host, port) = match hostport.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (hostport, None),
        };
        let host = non_empty(decode_text(host, "host")?).map(|h| host_from(&h));
        (host, port)
    };
    let port = match port {
        None | Some("") => None,
        Some(port) => Some(parse_port(port).ok_or_else(|| {
            Error::invalid_argument(format!(
                "the database URL's port is not a number from 1 to 65535; {ENCODE_HINT}"
            ))
        })?),
    };
    Ok((host, port))
}

fn parse_host_param(value: &str) -> Result<Host> {
    if value.contains(',') {
        return Err(Error::invalid_argument(
            "the host parameter names several hosts; keyrotate connects to one server, so give only the primary",
        ));
    }
    Ok(host_from(value))
}

fn host_from(host: &str) -> Host {
    if host.starts_with('/') {
        Host::Unix(PathBuf::from(host))
    } else {
        Host::Tcp(host.to_owned())
    }
}

/// An empty value means "not given", as in libpq.
fn parse_port_param(value: &str) -> Result<Option<u16>> {
    if value.is_empty() {
        return Ok(None);
    }
    parse_port(value).map(Some).ok_or_else(|| {
        Error::invalid_argument(format!(
            "port parameter {value:?} is not a number from 1 to 65535"
        ))
    })
}

fn parse_port(text: &str) -> Option<u16> {
    if !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u16>().ok().filter(|&port| port != 0)
}

/// libpq: whole seconds, and zero or less waits for ever.
fn parse_connect_timeout(value: &str) -> Result<Option<Duration>> {
    if value.is_empty() {
        return Ok(Some(DEFAULT_CONNECT_TIMEOUT));
    }
    let seconds: i64 = value.parse().map_err(|_| {
        Error::invalid_argument(format!(
            "connect_timeout {value:?} is not a whole number of seconds"
        ))
    })?;
    Ok(u64::try_from(seconds)
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs))
}

fn parse_sslmode(value: &str, notices: &mut Vec<String>) -> Result<Option<SslMode>> {
    Ok(Some(match value {
        "" => return Ok(None),
        "disable" => SslMode::Disable,
        "allow" => {
            // libpq tries plaintext first and TLS second; tokio-postgres can
            // only do the reverse, which reaches the same servers.
            notices.push("sslmode=allow is treated as prefer".to_owned());
            SslMode::Prefer
        }
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "no-verify" => SslMode::NoVerify,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        other => {
            return Err(Error::invalid_argument(format!(
                "unknown sslmode {other:?}; expected disable, allow, prefer, require, verify-ca or verify-full"
            )))
        }
    }))
}

fn effective_sslmode(
    asked: Option<SslMode>,
    rootcert: Option<&RootCert>,
    host: &Host,
    notices: &mut Vec<String>,
) -> Result<SslMode> {
    // As libpq 16: the system's CAs vouch for any public host name, so only
    // a name check makes them meaningful.
    let mode = match (asked, rootcert) {
        (None, Some(RootCert::System)) => SslMode::VerifyFull,
        (Some(mode), Some(RootCert::System)) if mode != SslMode::VerifyFull => {
            return Err(Error::invalid_argument(
                "sslrootcert=system needs sslmode=verify-full (a weaker sslmode would trust any certificate a public CA issued)",
            ))
        }
        (mode, _) => mode.unwrap_or(SslMode::Prefer),
    };
    if let Host::Unix(_) = host {
        // libpq never uses TLS on a Unix socket, whatever sslmode says.
        if !matches!(mode, SslMode::Disable | SslMode::Prefer) {
            notices.push("TLS is not used over a Unix socket; ignoring sslmode".to_owned());
        }
        return Ok(SslMode::Disable);
    }
    Ok(mode)
}

fn default_host(port: u16, machine: &dyn Machine, notices: &mut Vec<String>) -> Host {
    for dir in SOCKET_DIRS {
        if machine.has_socket(&Path::new(dir).join(format!(".s.PGSQL.{port}"))) {
            notices.push(format!(
                "no host in the database URL; using the Unix socket in {dir}"
            ));
            return Host::Unix(PathBuf::from(dir));
        }
    }
    notices.push(
        "no host in the database URL and no local PostgreSQL socket; using localhost".to_owned(),
    );
    Host::Tcp("localhost".to_owned())
}

/// Strict percent-decoding: a '%' not followed by two hex digits is an
/// error (as in libpq), and so is a NUL, which PostgreSQL cannot take.
/// `what` names the component; its text is never echoed.
fn decode(text: &str, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        let byte = if bytes[i] == b'%' {
            let byte = bytes
                .get(i + 1..i + 3)
                .filter(|pair| pair.iter().all(u8::is_ascii_hexdigit))
                .and_then(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
                .ok_or_else(|| {
                    Error::invalid_argument(format!(
                        "the {what} in the database URL has a '%' not followed by two hex digits; write a literal '%' as %25"
                    ))
                })?;
            i += 3;
            byte
        } else {
            i += 1;
            bytes[i - 1]
        };
        if byte == 0 {
            return Err(Error::invalid_argument(format!(
                "the {what} in the database URL holds a NUL byte"
            )));
        }
        out.push(byte);
    }
    Ok(out)
}

fn decode_text(text: &str, what: &str) -> Result<String> {
    let bytes = decode(text, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        Error::invalid_argument(format!(
            "the {what} in the database URL is not UTF-8 once percent-decoded"
        ))
    })
}

/// A query parameter overrides the URL's own component, but an empty one
/// (`?user=`) leaves it alone.
fn given<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn non_empty_secret(secret: Zeroizing<Vec<u8>>) -> Option<Zeroizing<Vec<u8>>> {
    (!secret.is_empty()).then_some(secret)
}

/// Only names of this shape are echoed in notices and errors; anything else
/// may be a fragment of a badly encoded password.
fn looks_like_a_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// tokio-postgres says only "db error" for a server error; the server's own
/// message is in the source chain.
fn render_pg_error(error: &tokio_postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{db} [SQLSTATE {}]", db.code().code());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The two libpq modes that do not check the host name. Without `roots`
/// (`sslmode=prefer|require` and no root certificate) the server is not
/// authenticated; with them (`verify-ca`) the chain must lead to a trusted
/// root, but the certificate need not name the host (servers reached by IP
/// or through a tunnel). The chain check is rustls's own, rather than a name
/// error filtered out of the full verifier, so nothing else can be filtered
/// by mistake; the handshake's signatures are checked either way, so the
/// TLS session itself is sound.
#[derive(Debug)]
struct WithoutHostname {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for WithoutHostname {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "Zq9-Unmistakable-Secret";

    /// A machine with the given sockets and OS user.
    struct Fake {
        sockets: &'static [&'static str],
        user: Option<&'static str>,
    }

    impl Machine for Fake {
        fn has_socket(&self, path: &Path) -> bool {
            self.sockets.iter().any(|s| Path::new(s) == path)
        }

        fn user_name(&self) -> Option<String> {
            self.user.map(str::to_owned)
        }
    }

    const NO_SOCKETS: Fake = Fake {
        sockets: &[],
        user: Some("osuser"),
    };

    fn parse(url: &str) -> ConnectionTarget {
        ConnectionTarget::parse_on(url, &NO_SOCKETS)
            .unwrap_or_else(|e| panic!("{url} should parse: {e}"))
    }

    fn parse_err(url: &str) -> String {
        match ConnectionTarget::parse_on(url, &NO_SOCKETS) {
            Ok(target) => panic!("{url} should not parse, got {target:?}"),
            Err(e @ Error::InvalidArgument { .. }) => {
                let text = format!("{e} {e:?}");
                assert!(!text.contains(SECRET), "{text}");
                text
            }
            Err(other) => panic!("{url}: expected InvalidArgument, got {other:?}"),
        }
    }

    fn password(target: &ConnectionTarget) -> Option<&[u8]> {
        target.password.as_ref().map(|p| p.as_slice())
    }

    #[test]
    fn reads_the_backends_prisma_url() {
        let t = parse(&format!(
            "postgresql://amcp:{SECRET}@postgres:5432/anythingmcp?schema=public"
        ));
        assert_eq!(t.host, Host::Tcp("postgres".into()));
        assert_eq!(t.port, 5432);
        assert_eq!(t.user, "amcp");
        assert_eq!(password(&t), Some(SECRET.as_bytes()));
        assert_eq!(t.database(), "anythingmcp");
        assert_eq!(t.schema(), "public");
        assert_eq!(t.describe(), "postgres:5432/anythingmcp");
        assert_eq!(t.host(), "postgres");
        assert_eq!(t.application_name, "keyrotate");
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(10)));
        assert_eq!(t.sslmode, SslMode::Prefer);
        assert!(t.notices().is_empty(), "{:?}", t.notices());
    }

    #[test]
    fn accepts_both_schemes_in_any_case() {
        for url in [
            "postgres://u@h/db",
            "postgresql://u@h/db",
            "POSTGRES://u@h/db",
            "  postgresql://u@h/db\n",
        ] {
            assert_eq!(parse(url).describe(), "h:5432/db", "{url}");
        }
    }

    #[test]
    fn rejects_other_schemes() {
        for url in [
            "mysql://u@h/db",
            "",
            "h/db",
            "postgres:/h/db",
            "postgres:h/db",
            &format!("{SECRET}://u@h/db"),
        ] {
            assert!(
                parse_err(url).contains("must start with postgres://"),
                "{url}"
            );
        }
    }

    #[test]
    fn decodes_user_and_password() {
        let t = parse("postgres://us%40er%3A:p%40ss%2Fw%3Ard%25%3F%23%20@h/db");
        assert_eq!(t.user, "us@er:");
        assert_eq!(password(&t), Some(&b"p@ss/w:rd%?# "[..]));

        let t = parse("postgres://u:p@ss:w@h/db");
        assert_eq!(
            password(&t),
            Some(&b"p@ss:w"[..]),
            "last '@' ends the user info"
        );

        let t = parse("postgres://u:%FF%FE@h/db");
        assert_eq!(
            password(&t),
            Some(&[0xff, 0xfe][..]),
            "a password may be any bytes"
        );

        let t = parse("postgres://u:@h/db");
        assert_eq!(password(&t), None);
        let t = parse("postgres://:pw@h/db");
        assert_eq!(t.user, "osuser");
        assert_eq!(password(&t), Some(&b"pw"[..]));
    }

    #[test]
    fn ports() {
        assert_eq!(parse("postgres://u@h/db").port, 5432);
        assert_eq!(parse("postgres://u@h:/db").port, 5432);
        assert_eq!(parse("postgres://u@h:6543/db").port, 6543);
        assert_eq!(parse("postgres://u@h:1/db?port=7000").port, 7000);
        assert_eq!(parse("postgres://u@h:6543/db?port=").port, 6543);
        for url in [
            "postgres://u@h:abc/db",
            "postgres://u@h:0/db",
            "postgres://u@h:65536/db",
            "postgres://u@h:+5/db",
            "postgres://u@h:5432:1/db",
        ] {
            assert!(parse_err(url).contains("port"), "{url}");
        }
        assert!(parse_err("postgres://u@h/db?port=x1").contains("\"x1\""));
    }

    #[test]
    fn ipv6_hosts() {
        let t = parse("postgres://u@[::1]:6543/db");
        assert_eq!(t.host, Host::Tcp("::1".into()));
        assert_eq!(t.host(), "::1");
        assert_eq!(t.describe(), "[::1]:6543/db");
        assert_eq!(parse("postgres://u@[2001:db8::5]/db").port, 5432);
        assert_eq!(
            parse("postgres://u@h/db?host=::1").describe(),
            "[::1]:5432/db"
        );
        assert!(parse_err("postgres://u@[::1/db").contains("']'"));
        assert!(parse_err("postgres://u@[nope]:5432/db").contains("IPv6"));
        assert!(parse_err("postgres://u@[::1]x/db").contains("']'"));
    }

    #[test]
    fn unix_sockets() {
        let t = parse("postgres://u@/db?host=/var/run/postgresql");
        assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
        assert_eq!(t.host(), "/var/run/postgresql");
        assert_eq!(t.describe(), "/var/run/postgresql:5432/db");

        let t = parse("postgresql://u:pw@%2Fvar%2Frun%2Fpostgresql:6000/db");
        assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
        assert_eq!(t.describe(), "/var/run/postgresql:6000/db");

        let t = parse("postgres://u@h/db?host=%2Ftmp");
        assert_eq!(
            t.host,
            Host::Unix("/tmp".into()),
            "the query overrides the URL"
        );
    }

    #[test]
    fn tls_is_never_used_on_a_unix_socket() {
        let t = parse("postgres://u@/db?host=/tmp&sslmode=require");
        assert_eq!(t.sslmode, SslMode::Disable);
        assert!(t.notices().iter().any(|n| n.contains("Unix socket")));
        let t = parse("postgres://u@/db?host=/tmp");
        assert_eq!(t.sslmode, SslMode::Disable);
        assert!(t.notices().is_empty(), "{:?}", t.notices());
    }

    #[test]
    fn missing_host_prefers_a_local_socket() {
        let both = Fake {
            sockets: &["/var/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432"],
            user: Some("osuser"),
        };
        let t = ConnectionTarget::parse_on("postgres:///db", &both).unwrap();
        assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
        assert!(t.notices()[0].contains("/var/run/postgresql"));

        let tmp_only = Fake {
            sockets: &["/tmp/.s.PGSQL.6000"],
            user: Some("osuser"),
        };
        let t = ConnectionTarget::parse_on("postgres://u@:6000/db", &tmp_only).unwrap();
        assert_eq!(t.host, Host::Unix("/tmp".into()));
        let t = ConnectionTarget::parse_on("postgres://u@/db", &tmp_only).unwrap();
        assert_eq!(
            t.host,
            Host::Tcp("localhost".into()),
            "the socket is for another port"
        );
        assert!(t.notices()[0].contains("localhost"));
        assert_eq!(t.describe(), "localhost:5432/db");
    }

    #[test]
    fn user_and_database_default_like_libpq() {
        let t = parse("postgresql://");
        assert_eq!(t.user, "osuser");
        assert_eq!(t.database(), "osuser");
        assert_eq!(parse("postgresql://h").database(), "osuser");
        assert_eq!(parse("postgresql://ann@h").database(), "ann");
        let nobody = Fake {
            sockets: &[],
            user: None,
        };
        let err = ConnectionTarget::parse_on("postgres://h/db", &nobody).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_ARG");
        assert!(err.to_string().contains("no user"));
    }

    #[test]
    fn query_overrides_user_password_and_database() {
        let t = parse(&format!(
            "postgres://a:b@h/one?user=c%20d&password={SECRET}%21&dbname=two%2Fthree"
        ));
        assert_eq!(t.user, "c d");
        assert_eq!(password(&t), Some(format!("{SECRET}!").as_bytes()));
        assert_eq!(t.database(), "two/three");
        let t = parse("postgres://a:b@h/one?user=&password=&dbname=");
        assert_eq!(
            (t.user.as_str(), password(&t), t.database.as_str()),
            ("a", Some(&b"b"[..]), "one"),
            "empty values mean 'not given'"
        );
    }

    #[test]
    fn plus_is_not_a_space() {
        // libpq semantics: only percent-escapes are decoded.
        assert_eq!(
            parse("postgres://u@h/db?application_name=a+b").application_name,
            "a+b"
        );
    }

    #[test]
    fn schema() {
        assert_eq!(parse("postgres://u@h/db").schema(), "public");
        assert_eq!(parse("postgres://u@h/db?schema=").schema(), "public");
        assert_eq!(
            parse("postgres://u@h/db?schema=My%20%22Schema%22").schema(),
            "My \"Schema\""
        );
    }

    #[test]
    fn application_name_options_and_timeout() {
        let t = parse("postgres://u@h/db?application_name=rotator&options=-c%20work_mem%3D64MB&connect_timeout=3");
        assert_eq!(t.application_name, "rotator");
        assert_eq!(t.options.as_deref(), Some("-c work_mem=64MB"));
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!(
            parse("postgres://u@h/db?connect_timeout=0").connect_timeout,
            None
        );
        assert_eq!(
            parse("postgres://u@h/db?connect_timeout=-1").connect_timeout,
            None
        );
        assert!(parse_err("postgres://u@h/db?connect_timeout=2.5").contains("connect_timeout"));
        let t = parse("postgres://u@h/db?application_name=");
        assert_eq!(t.application_name, "keyrotate");
    }

    #[test]
    fn sslmodes() {
        let mode = |q: &str| parse(&format!("postgres://u@h/db?{q}")).sslmode;
        assert_eq!(mode(""), SslMode::Prefer);
        assert_eq!(mode("sslmode="), SslMode::Prefer);
        assert_eq!(mode("sslmode=disable"), SslMode::Disable);
        assert_eq!(mode("sslmode=allow"), SslMode::Prefer);
        assert_eq!(mode("sslmode=prefer"), SslMode::Prefer);
        assert_eq!(mode("sslmode=require"), SslMode::Require);
        assert_eq!(mode("sslmode=no-verify"), SslMode::NoVerify);
        assert_eq!(mode("sslmode=verify-ca"), SslMode::VerifyCa);
        assert_eq!(mode("sslmode=verify-full"), SslMode::VerifyFull);
        assert_eq!(mode("sslrootcert=system"), SslMode::VerifyFull);
        let err = parse_err("postgres://u@h/db?sslmode=verify_full");
        assert!(err.contains("unknown sslmode \"verify_full\""), "{err}");
        let err = parse_err("postgres://u@h/db?sslmode=require&sslrootcert=system");
        assert!(err.contains("verify-full"), "{err}");
        let t = parse("postgres://u@h/db?sslmode=allow");
        assert_eq!(t.notices(), ["sslmode=allow is treated as prefer"]);
    }

    #[test]
    fn certificate_checks_follow_libpq() {
        let check = |q: &str| parse(&format!("postgres://u@h/db?{q}")).check();
        let ca = "sslrootcert=/ca.pem";
        assert_eq!(check("sslmode=disable"), Check::Nothing);
        assert_eq!(check("sslmode=prefer"), Check::Nothing);
        assert_eq!(check(&format!("sslmode=prefer&{ca}")), Check::Chain);
        assert_eq!(check("sslmode=require"), Check::Nothing);
        assert_eq!(check(&format!("sslmode=require&{ca}")), Check::Chain);
        assert_eq!(check(&format!("sslmode=no-verify&{ca}")), Check::Nothing);
        assert_eq!(check("sslmode=verify-ca"), Check::Chain);
        assert_eq!(check(&format!("sslmode=verify-ca&{ca}")), Check::Chain);
        assert_eq!(check("sslmode=verify-full"), Check::ChainAndName);
        assert_eq!(check("sslrootcert=system"), Check::ChainAndName);

        let t = parse(&format!("postgres://u@h/db?sslmode=verify-full&{ca}"));
        assert_eq!(t.sslrootcert, Some(RootCert::File("/ca.pem".into())));
        assert!(t.notices().is_empty(), "{:?}", t.notices());
        let t = parse("postgres://u@h/db?sslmode=verify-full");
        assert_eq!(t.sslrootcert, None);
        assert!(t.notices()[0].contains("trusted CAs"));
    }

    #[test]
    fn prisma_and_unknown_parameters_are_noticed_not_fatal() {
        let t = parse(
            "postgresql://u@h/db?schema=s&connection_limit=5&pool_timeout=10&pgbouncer=true\
             &socket_timeout=3&statement_cache_size=0&sslaccept=strict&sslcert=c.pem\
             &sslidentity=id.p12&sslpassword=x&connect_timeout=5&target_session_attrs=any\
             &flag&we%24rd=1&bad=%zz",
        );
        assert_eq!(t.schema(), "s");
        assert_eq!(t.connect_timeout, Some(Duration::from_secs(5)));
        let notices = t.notices().join("\n");
        for name in [
            "connection_limit",
            "pool_timeout",
            "socket_timeout",
            "statement_cache_size",
            "sslaccept",
            "sslcert",
            "sslidentity",
            "sslpassword",
        ] {
            assert!(
                notices.contains(&format!("ignoring Prisma-only parameter {name}")),
                "{name}: {notices}"
            );
        }
        assert!(notices.contains("pgbouncer; connect keyrotate to PostgreSQL directly"));
        assert!(notices.contains("ignoring unsupported parameter target_session_attrs"));
        assert!(notices.contains("ignoring unsupported parameter bad"));
        assert!(notices.contains("without '='"));
        assert!(notices.contains("unusual name"));
        assert!(!notices.contains("we$rd"));
        assert_eq!(t.notices().len(), 13, "{notices}");
    }

    #[test]
    fn fragments_and_several_hosts() {
        let t = parse("postgres://u@h/db#frag");
        assert_eq!(t.database(), "db");
        assert_eq!(t.notices(), ["ignoring the URL's #fragment"]);
        assert!(parse_err("postgres://u@h1,h2/db").contains("several hosts"));
        assert!(parse_err("postgres://u@h/db?host=h1,h2").contains("several hosts"));
    }

    #[test]
    fn malformed_urls_never_show_the_password() {
        for url in [
            format!("postgres://u:{SECRET}%zz@h/db"),
            format!("postgres://u:{SECRET}%2@h/db"),
            format!("postgres://u:{SECRET}%00@h/db"),
            format!("postgres://u:{SECRET}@h:port/db"),
            format!("postgres://u:{SECRET}@h:99999/db"),
            format!("postgres://u:{SECRET}@[::1/db"),
            format!("postgres://u:{SECRET}@h1,h2/db"),
            format!("postgres://u:{SECRET}@h/db%zz"),
            format!("postgres://u:{SECRET}@h/db?sslmode=bogus"),
            format!("postgres://u:{SECRET}@h/db?connect_timeout=soon"),
            format!("postgres://u@h/db?password={SECRET}%"),
            format!("postgres://u:{SECRET}@h/db?sslmode=prefer&sslrootcert=system"),
            format!("mysql://u:{SECRET}@h/db"),
            format!("postgres//u:{SECRET}@h/db"),
            // Unencoded '/', '?' or '#' split the password into host and port.
            format!("postgres://u:{SECRET}/x@h/db"),
            format!("postgres://u:{SECRET}?x@h/db"),
            format!("postgres://u:{SECRET}#x@h/db"),
            format!("postgres://u:12/{SECRET}@h/db"),
        ] {
            parse_err(&url);
        }
        let err = parse_err(&format!("postgres://u:{SECRET}/x@h/db"));
        assert!(err.contains("percent-encode"), "{err}");
        let err = parse_err(&format!("postgres://u:12/{SECRET}@h/db"));
        assert!(err.contains("'@' after the host"), "{err}");
    }

    #[test]
    fn bad_percent_encoding_names_the_component() {
        assert!(parse_err("postgres://u%zz@h/db").contains("user name"));
        assert!(parse_err("postgres://u:%@h/db").contains("password"));
        assert!(parse_err("postgres://u@h%zz/db").contains("host"));
        assert!(parse_err("postgres://u@h/d%4").contains("database name"));
        assert!(parse_err("postgres://u@h/db?schema=%g0").contains("schema"));
        assert!(parse_err("postgres://u@h/%FF").contains("UTF-8"));
    }

    #[test]
    fn the_password_is_in_no_description() {
        let t = parse(&format!(
            "postgres://someone:{SECRET}@db.example:5433/app?password={SECRET}"
        ));
        let shown = format!("{} {:?} {}", t.describe(), t, t.notices().join(" "));
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(format!("{t:?}").contains("password: Some(\"<redacted>\")"));
        assert!(!t.describe().contains("someone"));
    }

    #[tokio::test]
    async fn connect_failures_are_db_connect_errors_without_the_password() {
        // Port 1 on loopback: nothing listens there, so this fails at once.
        let t = parse(&format!(
            "postgres://u:{SECRET}@127.0.0.1:1/app?sslmode=disable"
        ));
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
        let t = parse(
            "postgres://u@127.0.0.1:1/app?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
        );
        let err = t.connect().await.unwrap_err();
        assert_eq!(err.code(), "ERR_DB_CONNECT");
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }
}
