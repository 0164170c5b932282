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

    let tls = tls::read(&tls_params, &mut notices)?;
    let port = port.unwrap_or(DEFAULT_PORT);
    let host = match host {
        Some(host) => host,
        // node-postgres goes to localhost when the URL names no host; a
        // local socket is the same server, but never carries TLS.
        None if tls.is_some() => {
            notices.push("no host in the database URL; using localhost".to_owned());
            Host::Tcp("localhost".to_owned())
        }
        None => default_host(port, machine, &mut notices),
    };
    if matches!(host, Host::Unix(_)) && tls.is_some() {
        return Err(Error::invalid_argument(
            "the URL asks for TLS (ssl, sslmode or an ssl file parameter), but its host is a Unix socket, \
             over which PostgreSQL never offers TLS (node-postgres refuses this URL too); \
             drop the TLS parameters or connect over TCP",
        ));
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
        schema: text(given.schema, "schema")?.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned()),
        application_name: text(given.application_name, "application_name")?
            .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_owned()),
        options: text(given.options, "options")?,
        connect_timeout,
        tls,
        notices,
    })
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
        parse_on(url, &NO_SOCKETS).unwrap_or_else(|e| panic!("{url} should parse: {e}"))
    }

    fn parse_err(url: &str) -> String {
        match parse_on(url, &NO_SOCKETS) {
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
        assert_eq!(t.tls, None, "no sslmode or ssl: no TLS, as node-postgres");
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
    fn tls_over_a_unix_socket_is_refused() {
        for query in [
            "sslmode=require",
            "ssl=true",
            "sslmode=no-verify",
            "sslrootcert=/ca.pem",
        ] {
            let err = parse_err(&format!("postgres://u@/db?host=/tmp&{query}"));
            assert!(err.contains("Unix socket"), "{query}: {err}");
        }
        let t = parse("postgres://u@/db?host=/tmp&sslmode=disable");
        assert_eq!(t.tls, None);
        assert!(t.notices().is_empty(), "{:?}", t.notices());
    }

    #[test]
    fn no_host_with_tls_is_localhost_as_in_node_postgres() {
        let local = Fake {
            sockets: &["/var/run/postgresql/.s.PGSQL.5432"],
            user: Some("osuser"),
        };
        let t = parse_on("postgres:///db?sslmode=verify-full", &local).unwrap();
        assert_eq!(t.host, Host::Tcp("localhost".into()));
        assert_eq!(
            t.notices(),
            ["no host in the database URL; using localhost"]
        );
        let t = parse_on("postgres:///db", &local).unwrap();
        assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
    }

    #[test]
    fn missing_host_prefers_a_local_socket() {
        let both = Fake {
            sockets: &["/var/run/postgresql/.s.PGSQL.5432", "/tmp/.s.PGSQL.5432"],
            user: Some("osuser"),
        };
        let t = parse_on("postgres:///db", &both).unwrap();
        assert_eq!(t.host, Host::Unix("/var/run/postgresql".into()));
        assert!(t.notices()[0].contains("/var/run/postgresql"));

        let tmp_only = Fake {
            sockets: &["/tmp/.s.PGSQL.6000"],
            user: Some("osuser"),
        };
        let t = parse_on("postgres://u@:6000/db", &tmp_only).unwrap();
        assert_eq!(t.host, Host::Unix("/tmp".into()));
        let t = parse_on("postgres://u@/db", &tmp_only).unwrap();
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
        let err = parse_on("postgres://h/db", &nobody).unwrap_err();
        assert_eq!(err.code(), "ERR_INVALID_ARG");
        assert!(err.to_string().contains("no user"));
    }

    #[test]
    fn query_overrides_user_password_host_and_port_not_database() {
        let t = parse(&format!(
            "postgres://a:b@h:1/one?user=c%20d&password={SECRET}%21&host=other&port=6000&dbname=two&database=three"
        ));
        assert_eq!(t.user, "c d");
        assert_eq!(password(&t), Some(format!("{SECRET}!").as_bytes()));
        assert_eq!(t.describe(), "other:6000/one");
        assert!(t.notices()[0].contains(
            "ignoring dbname: node-postgres takes the database name from the URL's path"
        ));
        assert!(t.notices()[1].starts_with("ignoring database:"));
        let t = parse("postgres://a:b@h:1/one?user=&password=&host=&port=");
        assert_eq!(
            (t.user.as_str(), password(&t), t.describe().as_str()),
            ("a", Some(&b"b"[..]), "h:1/one"),
            "empty values mean 'not given'"
        );
    }

    #[test]
    fn the_last_occurrence_of_a_parameter_wins() {
        let t = parse("postgres://u@h/db?schema=a&schema=b&port=1&port=2");
        assert_eq!((t.schema(), t.port), ("b", 2));
        assert_eq!(
            parse("postgres://u@h/db?schema=a&schema=").schema(),
            "public"
        );
        assert_eq!(
            parse("postgres://u@h/db?sslmode=require&sslmode=").tls,
            None
        );
    }

    #[test]
    fn decoding_follows_node_postgres_part_by_part() {
        // Query values are form-encoded: '+' is a space, %2B a plus.
        let t = parse("postgres://u+1:p+w@h/db?application_name=a+b%2Bc&schema=s+t");
        assert_eq!(t.application_name, "a b+c");
        assert_eq!(t.schema(), "s t");
        // In the user info '+' is itself.
        assert_eq!(t.user, "u+1");
        assert_eq!(password(&t), Some(&b"p+w"[..]));
        // The path is decoded with decodeURI: reserved escapes stay.
        assert_eq!(
            parse("postgres://u@h/my%20db%2Fx%3F%40").database(),
            "my db%2Fx%3F%40"
        );
        assert_eq!(parse("postgres://u@h/caf%C3%A9+1").database(), "café+1");
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
    fn tls_parameters_reach_the_tls_reading() {
        let t = parse("postgres://u@h/db?sslmode=verify%2Dfull&sslrootcert=%2Fetc%2Fca+1.pem");
        let tls = t.tls.as_ref().unwrap();
        assert_eq!(tls.check, tls::Check::ChainAndName);
        assert_eq!(tls.rootcert.as_deref(), Some(Path::new("/etc/ca 1.pem")));
        assert!(t.notices().is_empty(), "{:?}", t.notices());
        let t = parse("postgres://u@h/db?uselibpqcompat=true&sslmode=require");
        assert_eq!(t.tls.unwrap().check, tls::Check::Nothing);
        let err = parse_err("postgres://u@h/db?sslmode=verify_full");
        assert!(err.contains("unknown sslmode \"verify_full\""), "{err}");
        let err = parse_err("postgres://u@h/db?sslmode=allow");
        assert!(err.contains("unknown sslmode \"allow\""), "{err}");
    }

    #[test]
    fn prisma_and_unknown_parameters_are_noticed_not_fatal() {
        let t = parse(
            "postgresql://u@h/db?schema=s&connection_limit=5&pool_timeout=10&pgbouncer=true\
             &socket_timeout=3&statement_cache_size=0&sslaccept=strict\
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
        assert_eq!(t.notices().len(), 12, "{notices}");
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
            format!("postgres://u:{SECRET}@h/db?uselibpqcompat=true&sslmode=verify-ca"),
            format!("postgres://u:{SECRET}@h/db?sslcert=/c.pem"),
            format!("postgres://u:{SECRET}@/db?host=/tmp&sslmode=require"),
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
        assert!(parse_err("postgres://u@h/db?sslrootcert=%zz").contains("sslrootcert"));
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
