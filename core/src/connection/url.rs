//! Reading a `DATABASE_URL` as pg-connection-string does: which server,
//! database and user it names, its TLS parameters (read in [`super::tls`]),
//! `schema`, and notices for everything else.
//!
//! Where pg-connection-string accepts what is almost certainly a mistake (a
//! bare `%`, several hosts, an unknown `sslmode`), keyrotate refuses before
//! connecting instead of guessing.
//!
//! [`decode`] percent-decodes each part, [`host`] reads the host and port,
//! and [`error`] says why a URL is refused.

mod decode;
mod error;
mod host;

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use self::decode::{decode, decode_text, Decoding, Part};
use self::error::UrlError;
use self::host::{parse_host_param, parse_hostport, parse_port_param};
use super::echo::looks_like_a_name;
use super::target::{ConnectionTarget, Host};
use super::tls::{self, ParamError, Tls, TlsParams};
use crate::{Error, Result};

const DEFAULT_PORT: u16 = 5432;
/// The schema of a URL without `?schema=`, as the backend reads it.
pub const DEFAULT_SCHEMA: &str = "public";
const DEFAULT_APPLICATION_NAME: &str = "keyrotate";
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Where libpq builds look for the server's socket when the URL names no
/// host: Debian's packages use the first, upstream's default is the second.
const SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// Parameters Prisma understands and node-postgres does not.
const PRISMA_ONLY: [&str; 10] = [
    "connection_limit",
    "pool_timeout",
    "pgbouncer",
    "socket_timeout",
    "statement_cache_size",
    "sslaccept",
    "sslidentity",
    "sslpassword",
    "max_connection_lifetime",
    "max_idle_connection_lifetime",
];

/// The search path is a session setting, which a transaction-pooling
/// PgBouncer does not keep from one transaction to the next.
const PGBOUNCER_NOTICE: &str = "ignoring Prisma-only parameter pgbouncer; \
    connect keyrotate to PostgreSQL directly, not through a transaction-pooling PgBouncer";

/// What parsing needs from the machine, so tests can pin it.
pub(super) trait Machine {
    fn has_socket(&self, path: &Path) -> bool;
    fn user_name(&self) -> Option<String>;
}

pub(super) struct ThisMachine;

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

/// The URL's parts, split where WHATWG URLs (what the backend's driver
/// uses) split them, not yet decoded.
struct Parts<'a> {
    userinfo: Option<&'a str>,
    hostport: &'a str,
    path: Option<&'a str>,
    query: Option<&'a str>,
}

/// The query parameters keyrotate reads, as written (not yet decoded). As
/// in pg-connection-string (a `URLSearchParams` walk), the last occurrence
/// of a name wins.
#[derive(Default)]
struct Query<'a> {
    password: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<&'a str>,
    user: Option<&'a str>,
    schema: Option<&'a str>,
    application_name: Option<&'a str>,
    options: Option<&'a str>,
    connect_timeout: Option<&'a str>,
}

type Secret = Zeroizing<Vec<u8>>;

/// The target `url` names on `machine`; a refusal leaves as
/// `Error::InvalidArgument`, in the words of [`UrlError`].
pub(super) fn parse_on(url: &str, machine: &dyn Machine) -> Result<ConnectionTarget> {
    read(url, machine).map_err(Error::from)
}

/// The URL's reading, step by step. The order of the steps is the order
/// its errors and notices come in.
fn read(url: &str, machine: &dyn Machine) -> Result<ConnectionTarget, UrlError> {
    let mut notices = Vec::new();
    let parts = split(url.trim(), &mut notices)?;
    let (mut user, mut password) = credentials(parts.userinfo)?;
    let (mut host, mut port) = parse_hostport(parts.hostport)?;
    // pg-connection-string decodes the path with decodeURI, which leaves
    // the escapes of reserved characters (%2F, %3F, %40, ...) as written.
    let database = match parts.path {
        Some(path) => non_empty(decode_text(path, Decoding::Path, Part::DatabaseName)?),
        None => None,
    };
    let (given, tls_params) = read_query(parts.query, &mut notices)?;
    if let Some(value) = given.password {
        if let Some(secret) = non_empty_secret(decode(value, Decoding::Form, Part::Password)?) {
            password = Some(secret);
        }
    }
    if let Some(value) = text(given.host, "host")? {
        host = Some(parse_host_param(&value)?);
    }
    if let Some(value) = text(given.port, "port")? {
        port = Some(parse_port_param(&value)?);
    }
    if let Some(value) = text(given.user, "user")? {
        user = Some(value);
    }
    let connect_timeout = match text(given.connect_timeout, "connect_timeout")? {
        Some(value) => parse_connect_timeout(&value)?,
        None => Some(DEFAULT_CONNECT_TIMEOUT),
    };

    let tls = tls::read(&tls_params, &mut notices);
    let port = port.unwrap_or(DEFAULT_PORT);
    let host = match host {
        Some(host) => host,
        // node-postgres goes to localhost when the URL names no host; a
        // local socket is the same server, but never carries TLS.
        None if !matches!(tls, Ok(None)) => {
            notices.push("no host in the database URL; using localhost".to_owned());
            Host::Tcp("localhost".to_owned())
        }
        None => default_host(port, machine, &mut notices),
    };
    let user = user
        .or_else(|| machine.user_name())
        .ok_or(UrlError::NoUser)?;
    let database = database.unwrap_or_else(|| user.clone());
    let target = ConnectionTarget {
        host,
        port,
        user,
        password,
        database,
        schema: text(given.schema, "schema")?.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned()),
        application_name: text(given.application_name, "application_name")?
            .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_owned()),
        options: text(given.options, "options")?,
        connect_timeout,
        tls: None,
        notices,
    };
    with_tls(target, tls)
}

/// The scheme, the fragment (noticed and dropped), the query, the path, and
/// the authority split into user info and `host[:port]`.
fn split<'a>(url: &'a str, notices: &mut Vec<String>) -> Result<Parts<'a>, UrlError> {
    let rest = strip_scheme(url)?;
    // A password with an unencoded '/', '?' or '#' ends the authority
    // early: its tail, the user info's '@' included, lands in the database
    // name, the query or the fragment, which describe(), errors and notices
    // do show (and its head becomes the host or port). So no raw '@' may
    // follow the authority; a literal one there is %40.
    if rest
        .find(['/', '?', '#'])
        .is_some_and(|end| rest[end..].contains('@'))
    {
        return Err(UrlError::AtAfterHost);
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
    // As in WHATWG URLs, the user info ends at the last '@', so an
    // unencoded '@' in a password still works.
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((userinfo, hostport)) => (Some(userinfo), hostport),
        None => (None, authority),
    };
    Ok(Parts {
        userinfo,
        hostport,
        path,
        query,
    })
}

/// The scheme is not echoed either: with the scheme left out, what stands
/// before "://" could be anything.
fn strip_scheme(url: &str) -> Result<&str, UrlError> {
    if let Some((scheme, rest)) = url.split_once("://") {
        if scheme.eq_ignore_ascii_case("postgres") || scheme.eq_ignore_ascii_case("postgresql") {
            return Ok(rest);
        }
    }
    Err(UrlError::Scheme)
}

/// The user name and password in the user info, decoded; empty ones are
/// not given.
fn credentials(userinfo: Option<&str>) -> Result<(Option<String>, Option<Secret>), UrlError> {
    let Some(userinfo) = userinfo else {
        return Ok((None, None));
    };
    let (name, secret) = match userinfo.split_once(':') {
        Some((name, secret)) => (name, Some(secret)),
        None => (userinfo, None),
    };
    let user = non_empty(decode_text(name, Decoding::Component, Part::UserName)?);
    let password = match secret {
        Some(secret) => non_empty_secret(decode(secret, Decoding::Component, Part::Password)?),
        None => None,
    };
    Ok((user, password))
}

/// The query's parameters: those keyrotate reads, kept as written, and the
/// TLS ones, decoded; a notice for each other one.
fn read_query<'a>(
    query: Option<&'a str>,
    notices: &mut Vec<String>,
) -> Result<(Query<'a>, TlsParams), UrlError> {
    let mut given = Query::default();
    let mut tls_params = TlsParams::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            notices.push("ignoring a query parameter without '='".to_owned());
            continue;
        };
        let key = decode_text(key, Decoding::Form, Part::ParameterName)?;
        let slot = match key.as_str() {
            "password" => &mut given.password,
            "host" => &mut given.host,
            "port" => &mut given.port,
            "user" => &mut given.user,
            "schema" => &mut given.schema,
            "application_name" => &mut given.application_name,
            "options" => &mut given.options,
            "connect_timeout" => &mut given.connect_timeout,
            name => {
                if let Some(slot) = tls_params.slot(name) {
                    let part = Part::ParameterValue(name.to_owned());
                    *slot = Some(decode_text(value, Decoding::Form, part)?);
                } else {
                    let notice = ignored(name);
                    if !notices.contains(&notice) {
                        notices.push(notice);
                    }
                }
                continue;
            }
        };
        *slot = Some(value);
    }
    Ok((given, tls_params))
}

/// A parameter's value, decoded. Values of ignored parameters are never
/// decoded, so a quirk in one of them cannot stop a rotation. An empty
/// value means "not given".
fn text(value: Option<&str>, name: &str) -> Result<Option<String>, UrlError> {
    let part = || Part::ParameterValue(name.to_owned());
    match value {
        Some(value) => Ok(non_empty(decode_text(value, Decoding::Form, part())?)),
        None => Ok(None),
    }
}

/// The notice for a parameter keyrotate does not use: none of them changes
/// which server is reached or how the connection is secured.
fn ignored(name: &str) -> String {
    match name {
        "pgbouncer" => PGBOUNCER_NOTICE.to_owned(),
        "dbname" | "database" => {
            format!("ignoring {name}: node-postgres takes the database name from the URL's path")
        }
        name if PRISMA_ONLY.contains(&name) => format!("ignoring Prisma-only parameter {name}"),
        name if looks_like_a_name(name) => format!("ignoring unsupported parameter {name}"),
        _ => "ignoring a query parameter with an unusual name".to_owned(),
    }
}

/// libpq's meaning (node-postgres ignores it): whole seconds, and zero or
/// less waits for ever.
fn parse_connect_timeout(value: &str) -> Result<Option<Duration>, UrlError> {
    let seconds: i64 = value
        .parse()
        .map_err(|_| UrlError::ConnectTimeout(value.to_owned()))?;
    Ok(u64::try_from(seconds)
        .ok()
        .filter(|&s| s > 0)
        .map(Duration::from_secs))
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

/// The TLS settings are refused with the server they were meant for.
fn with_tls(
    mut target: ConnectionTarget,
    tls: Result<Option<Tls>, ParamError>,
) -> Result<ConnectionTarget, UrlError> {
    let database = target.describe();
    target.tls = match tls {
        Ok(tls) => tls,
        Err(why) => return Err(UrlError::Tls { why, database }),
    };
    if matches!(target.host, Host::Unix(_)) && target.tls.is_some() {
        return Err(UrlError::TlsOverUnixSocket { database });
    }
    Ok(target)
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn non_empty_secret(secret: Secret) -> Option<Secret> {
    (!secret.is_empty()).then_some(secret)
}

#[cfg(test)]
mod tests;
