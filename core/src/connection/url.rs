//! Reading a `DATABASE_URL` as pg-connection-string does: which server,
//! database and user it names, its TLS parameters (read in [`super::tls`]),
//! `schema`, and notices for everything else.
//!
//! Where pg-connection-string accepts what is almost certainly a mistake (a
//! bare `%`, several hosts, an unknown `sslmode`), keyrotate refuses before
//! connecting instead of guessing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use super::tls::{self, TlsParams};
use super::{ConnectionTarget, Host};
use crate::{Error, Result};

const DEFAULT_PORT: u16 = 5432;
const DEFAULT_SCHEMA: &str = "public";
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

pub(super) fn parse_on(url: &str, machine: &dyn Machine) -> Result<ConnectionTarget> {
    let url = url.trim();
    let rest = strip_scheme(url)?;
    let mut notices = Vec::new();

    // A password with an unencoded '/', '?' or '#' ends the authority
    // early: its tail, the user info's '@' included, lands in the database
    // name, the query or the fragment, which describe(), errors and notices
    // do show (and its head becomes the host or port). So no raw '@' may
    // follow the authority; a literal one there is %40.
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
        user = non_empty(decode_text(name, Decoding::Component, "user name")?);
        if let Some(secret) = secret {
            password = non_empty_secret(decode(secret, Decoding::Component, "password")?);
        }
    }

    let (mut host, mut port) = parse_hostport(hostport)?;
    // pg-connection-string decodes the path with decodeURI, which leaves
    // the escapes of reserved characters (%2F, %3F, %40, ...) as written.
    let database = match path {
        Some(path) => non_empty(decode_text(path, Decoding::Path, "database name")?),
        None => None,
    };

    let mut given = Query::default();
    let mut tls_params = TlsParams::default();
    for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let Some((key, value)) = pair.split_once('=') else {
            notices.push("ignoring a query parameter without '='".to_owned());
            continue;
        };
        let key = decode_text(key, Decoding::Form, "name of a query parameter")?;
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
                    *slot = Some(decode_text(
                        value,
                        Decoding::Form,
                        &format!("value of the {name} parameter"),
                    )?);
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
    // Values of ignored parameters are never decoded, so a quirk in one of
    // them cannot stop a rotation. An empty value means "not given".
    let text = |value: Option<&str>, name: &str| -> Result<Option<String>> {
        value
            .map(|v| decode_text(v, Decoding::Form, &format!("value of the {name} parameter")))
            .transpose()
            .map(|v| v.and_then(non_empty))
    };
    if let Some(value) = given.password {
        if let Some(secret) = non_empty_secret(decode(value, Decoding::Form, "password")?) {
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
    let user = user.or_else(|| machine.user_name()).ok_or_else(|| {
        Error::invalid_argument(
            "the database URL names no user, and the operating-system user is unknown ($USER is not set)",
        )
    })?;
    let database = database.unwrap_or_else(|| user.clone());

    let mut target = ConnectionTarget {
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
    // The TLS settings are refused with the server they were meant for.
    let described = target.describe();
    let naming =
        |reason: String| Error::invalid_argument(format!("{reason} (database {described})"));
    target.tls = tls.map_err(|e| match e {
        Error::InvalidArgument { reason } => naming(reason.to_string()),
        other => other,
    })?;
    if matches!(target.host, Host::Unix(_)) && target.tls.is_some() {
        return Err(naming(
            "the URL asks for TLS (ssl, sslmode or an ssl file parameter), but its host is a Unix socket, \
             over which PostgreSQL never offers TLS (node-postgres refuses this URL too); \
             drop the TLS parameters or connect over TCP"
                .to_owned(),
        ));
    }
    Ok(target)
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
        let host =
            non_empty(decode_text(host, Decoding::Component, "host")?).map(|h| host_from(&h));
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

fn parse_port_param(value: &str) -> Result<u16> {
    parse_port(value).ok_or_else(|| {
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

/// libpq's meaning (node-postgres ignores it): whole seconds, and zero or
/// less waits for ever.
fn parse_connect_timeout(value: &str) -> Result<Option<Duration>> {
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

/// How a part of the URL is decoded, as the backend's driver decodes it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Decoding {
    /// `decodeURIComponent`: user name, password, host.
    Component,
    /// `decodeURI`: the database name; escapes of `;/?:@&=+$,#` stay.
    Path,
    /// `URLSearchParams`: query names and values; `+` is a space.
    Form,
}

/// Strict percent-decoding: a '%' not followed by two hex digits is an
/// error (node-postgres would take it literally, but it is almost always an
/// unencoded password character), and so is a NUL, which PostgreSQL cannot
/// take. `what` names the component; its text is never echoed.
fn decode(text: &str, how: Decoding, what: &str) -> Result<Zeroizing<Vec<u8>>> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let byte = bytes
                    .get(i + 1..i + 3)
                    .filter(|pair| pair.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
                    .ok_or_else(|| {
                        Error::invalid_argument(format!(
                            "the {what} in the database URL has a '%' not followed by two hex digits; write a literal '%' as %25"
                        ))
                    })?;
                if byte == 0 {
                    return Err(Error::invalid_argument(format!(
                        "the {what} in the database URL holds a NUL byte"
                    )));
                }
                if how == Decoding::Path && b";/?:@&=+$,#".contains(&byte) {
                    out.extend_from_slice(&bytes[i..i + 3]);
                } else {
                    out.push(byte);
                }
                i += 3;
            }
            b'+' if how == Decoding::Form => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn decode_text(text: &str, how: Decoding, what: &str) -> Result<String> {
    let bytes = decode(text, how, what)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        Error::invalid_argument(format!(
            "the {what} in the database URL is not UTF-8 once percent-decoded"
        ))
    })
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn non_empty_secret(secret: Zeroizing<Vec<u8>>) -> Option<Zeroizing<Vec<u8>>> {
    (!secret.is_empty()).then_some(secret)
}

/// Only names of this shape are echoed in notices and errors; anything else
/// may be a fragment of a badly encoded password.
pub(super) fn looks_like_a_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests;
