//! Why a `DATABASE_URL` is refused before connecting. Each becomes
//! `Error::InvalidArgument` with these words. None repeats the text before
//! the host, where a badly encoded password lands; the `port` and
//! `connect_timeout` parameters are named with their values, which come
//! after it.

use std::fmt;

use super::decode::DecodeError;
use crate::connection::echo::looks_like_a_name;
use crate::connection::tls::ParamError;
use crate::Error;

const ENCODE_HINT: &str =
    "if the user name or password holds ':', '/', '?', '#', '@' or '%', percent-encode it (for example '/' as %2F)";

#[derive(Debug)]
pub(super) enum UrlError {
    /// The scheme is neither `postgres` nor `postgresql`.
    Scheme,
    /// An '@' after the host: a password with an unencoded '/', '?' or '#'.
    AtAfterHost,
    /// Several hosts in the URL (`h1,h2`): keyrotate connects to one.
    SeveralHosts,
    /// Several hosts in the `host` parameter.
    SeveralHostsInParameter,
    /// `[` without its `]`.
    UnclosedIpv6,
    /// Text between `[` and `]` that is not an IPv6 address.
    InvalidIpv6,
    /// Text between `]` and the port's `:`.
    TextAfterIpv6,
    /// The URL's port is not from 1 to 65535.
    Port,
    /// The `port` parameter is not from 1 to 65535.
    PortParameter(String),
    /// `connect_timeout` is not a whole number of seconds.
    ConnectTimeout(String),
    /// A part cannot be percent-decoded.
    Decode(DecodeError),
    /// No user in the URL, and the operating system's is unknown.
    NoUser,
    /// The TLS parameters, refused with the server they were meant for.
    Tls { why: ParamError, database: String },
    /// TLS asked for over a Unix socket, which never carries it.
    TlsOverUnixSocket { database: String },
}

impl From<DecodeError> for UrlError {
    fn from(e: DecodeError) -> Self {
        UrlError::Decode(e)
    }
}

impl From<UrlError> for Error {
    fn from(e: UrlError) -> Self {
        Error::invalid_argument(e.to_string())
    }
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Scheme => {
                f.write_str("the database URL must start with postgres:// or postgresql://")
            }
            UrlError::AtAfterHost => write!(
                f,
                "the database URL has an '@' after the host; {ENCODE_HINT}"
            ),
            UrlError::SeveralHosts => f.write_str(
                "the database URL names several hosts; keyrotate connects to one server, so give only the primary",
            ),
            UrlError::SeveralHostsInParameter => f.write_str(
                "the host parameter names several hosts; keyrotate connects to one server, so give only the primary",
            ),
            UrlError::UnclosedIpv6 => {
                f.write_str("the database URL has an IPv6 address without its closing ']'")
            }
            UrlError::InvalidIpv6 => {
                f.write_str("the database URL has an invalid IPv6 address between '[' and ']'")
            }
            UrlError::TextAfterIpv6 => {
                f.write_str("the database URL has text between ']' and the port")
            }
            UrlError::Port => write!(
                f,
                "the database URL's port is not a number from 1 to 65535; {ENCODE_HINT}"
            ),
            UrlError::PortParameter(value) => write!(
                f,
                "port parameter{} is not a number from 1 to 65535",
                echoed(value)
            ),
            UrlError::ConnectTimeout(value) => write!(
                f,
                "connect_timeout{} is not a whole number of seconds",
                echoed(value)
            ),
            UrlError::Decode(e) => write!(f, "{e}"),
            UrlError::NoUser => f.write_str(
                "the database URL names no user, and the operating-system user is unknown ($USER is not set)",
            ),
            UrlError::Tls { why, database } => write!(f, "{why} (database {database})"),
            UrlError::TlsOverUnixSocket { database } => write!(
                f,
                "the URL asks for TLS (ssl, sslmode or an ssl file parameter), but its host is a Unix socket, \
                 over which PostgreSQL never offers TLS (node-postgres refuses this URL too); \
                 drop the TLS parameters or connect over TCP (database {database})"
            ),
        }
    }
}

/// A parameter's value, quoted after its name, when it has the shape of a
/// name: anything else may be a key or a password typed in the wrong place.
fn echoed(value: &str) -> String {
    match looks_like_a_name(value) {
        true => format!(" {value:?}"),
        false => String::new(),
    }
}
