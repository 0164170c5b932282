//! What the URL's TLS parameters mean, as the backend's driver reads them
//! (pg-connection-string 2.14's `parse`, then pg 8's `ConnectionParameters`):
//! whether TLS is used, how much of the server's certificate is checked, and
//! which files name the CAs and the client certificate. Pure policy: nothing
//! here reads a file or builds a TLS configuration.

use std::fmt;
use std::path::PathBuf;

use super::echo::looks_like_a_name;

type Result<T, E = ParamError> = std::result::Result<T, E>;

/// The URL's TLS parameters as written (percent-decoded). As in
/// pg-connection-string, the last occurrence of each wins, and an empty
/// value counts as absent except for `ssl`, where `ssl=` turns TLS off.
#[derive(Default)]
pub(super) struct TlsParams {
    ssl: Option<String>,
    sslmode: Option<String>,
    uselibpqcompat: Option<String>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    sslnegotiation: Option<String>,
}

impl TlsParams {
    /// Where the value of query parameter `name` goes, if it is about TLS.
    pub(super) fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name {
            "ssl" => &mut self.ssl,
            "sslmode" => &mut self.sslmode,
            "uselibpqcompat" => &mut self.uselibpqcompat,
            "sslrootcert" => &mut self.sslrootcert,
            "sslcert" => &mut self.sslcert,
            "sslkey" => &mut self.sslkey,
            "sslnegotiation" => &mut self.sslnegotiation,
            _ => return None,
        })
    }

    fn given(value: &Option<String>) -> Option<&str> {
        value.as_deref().filter(|v| !v.is_empty())
    }

    /// Whether a file parameter asks for TLS (node-postgres turns TLS on for
    /// any of them, and for `sslmode`).
    fn names_a_file(&self) -> bool {
        [&self.sslrootcert, &self.sslcert, &self.sslkey]
            .into_iter()
            .any(|v| Self::given(v).is_some())
    }
}

/// How much of the server's certificate is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Check {
    /// Node's `rejectUnauthorized: false`.
    Nothing,
    /// The chain, not the host name (Node's `checkServerIdentity` a no-op).
    Chain,
    ChainAndName,
}

/// TLS for one connection: what is checked, against which CAs, and with
/// which client certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Tls {
    pub(super) check: Check,
    /// `sslrootcert`: replaces the default CAs, as Node's `ca` option does.
    pub(super) rootcert: Option<PathBuf>,
    pub(super) client: Option<ClientFiles>,
    /// `sslnegotiation=direct`: TLS from the first byte, with ALPN.
    pub(super) direct: bool,
}

/// `sslcert` and `sslkey`: a PEM client certificate (chain) and its key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct ClientFiles {
    pub(super) cert: PathBuf,
    pub(super) key: PathBuf,
}

/// Why the URL's TLS parameters are refused before connecting: each is a
/// setting node-postgres throws on, one it would quietly read as something
/// else, or a combination that cannot mean what it says.
#[derive(Debug)]
pub(super) enum ParamError {
    /// `sslnegotiation` is neither `postgres` nor `direct`.
    UnknownNegotiation,
    /// An `sslmode` neither reading knows (node-postgres would verify
    /// fully). `mode` is the value only when it has the shape of a name.
    UnknownSslmode { mode: Option<String> },
    /// libpq's `verify-ca` without `sslrootcert`: a chain to a public CA
    /// without the host-name check proves nothing.
    VerifyCaWithoutRootCert,
    /// `sslnegotiation=direct` with TLS turned off.
    DirectWithoutTls,
    /// `ssl` is not one of the values node-postgres can connect with.
    UnknownSsl,
    /// Only one of `sslcert` and `sslkey`.
    HalfAClientCertificate,
}

impl fmt::Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamError::UnknownNegotiation => f.write_str("sslnegotiation must be postgres or direct"),
            ParamError::UnknownSslmode { mode } => {
                match mode {
                    Some(mode) => write!(f, "unknown sslmode {mode:?}")?,
                    None => f.write_str("an unknown sslmode")?,
                }
                f.write_str("; expected disable, no-verify, prefer, require, verify-ca or verify-full (node-postgres would read it as verify-full: write that if it is meant)")
            }
            ParamError::VerifyCaWithoutRootCert => f.write_str(
                "sslmode=verify-ca with uselibpqcompat=true needs sslrootcert: a public CA vouches for names anyone can register, so without the host-name check only your own CA makes the chain meaningful (node-postgres refuses this URL too)",
            ),
            ParamError::DirectWithoutTls => {
                f.write_str("sslnegotiation=direct needs TLS, but the URL turns TLS off")
            }
            ParamError::UnknownSsl => f.write_str(
                "ssl must be true, 1, 0 or no-verify (node-postgres cannot connect with any other value either)",
            ),
            ParamError::HalfAClientCertificate => f.write_str(
                "sslcert and sslkey go together: give both (a PEM client certificate and its unencrypted key) or neither",
            ),
        }
    }
}

/// What `config.ssl` holds while node-postgres reads the URL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ssl {
    Unset,
    Off,
    On(Check),
    /// Other text, which pg 8 passes on as TLS options and then fails on.
    Unusable,
}

/// Node-postgres's reading of the TLS parameters; `None` is no TLS at all.
/// Refused here, before connecting: an `sslmode` neither reading knows
/// (node-postgres would quietly verify fully), everything node-postgres
/// itself throws on, and combinations that cannot mean what they say.
pub(super) fn read(p: &TlsParams, notices: &mut Vec<String>) -> Result<Option<Tls>> {
    let libpq = libpq_meanings(p, notices);
    let rootcert = TlsParams::given(&p.sslrootcert).map(PathBuf::from);
    let direct = direct_negotiation(p)?;
    let mut ssl = asked_before_sslmode(p, direct);
    if let Some(mode) = TlsParams::given(&p.sslmode) {
        ssl = with_sslmode(ssl, mode, libpq, rootcert.is_some(), notices)?;
    }
    let Some(check) = settled(ssl, direct, p, notices)? else {
        return Ok(None);
    };
    let client = client_files(p)?;
    if check == Check::Nothing && rootcert.is_some() {
        notices.push(
            "this sslmode checks no certificate, so sslrootcert is read but not used".to_owned(),
        );
    }
    Ok(Some(Tls {
        check,
        rootcert,
        client,
        direct,
    }))
}

/// Whether `uselibpqcompat=true` gives `sslmode` libpq's meanings.
fn libpq_meanings(p: &TlsParams, notices: &mut Vec<String>) -> bool {
    if !matches!(
        p.uselibpqcompat.as_deref(),
        None | Some("true" | "false" | "")
    ) {
        notices.push(
            "uselibpqcompat is neither true nor false; node-postgres then keeps its own sslmode meanings, and so does keyrotate"
                .to_owned(),
        );
    }
    p.uselibpqcompat.as_deref() == Some("true")
}

/// `sslnegotiation`: whether TLS starts from the first byte.
fn direct_negotiation(p: &TlsParams) -> Result<bool> {
    match TlsParams::given(&p.sslnegotiation) {
        None | Some("postgres") => Ok(false),
        Some("direct") => Ok(true),
        Some(_) => Err(ParamError::UnknownNegotiation),
    }
}

/// What `ssl` says, turned on by `sslmode`'s presence, a file parameter or
/// direct negotiation, as node-postgres turns it on before reading
/// `sslmode`'s value.
fn asked_before_sslmode(p: &TlsParams, direct: bool) -> Ssl {
    let mut ssl = match p.ssl.as_deref() {
        None => Ssl::Unset,
        Some("" | "0") => Ssl::Off,
        Some("true" | "1") => Ssl::On(Check::ChainAndName),
        Some("no-verify") => Ssl::On(Check::Nothing),
        Some(_) => Ssl::Unusable,
    };
    if TlsParams::given(&p.sslmode).is_some() || p.names_a_file() {
        ssl = Ssl::On(Check::ChainAndName);
    }
    if direct && ssl == Ssl::Unset {
        ssl = Ssl::On(Check::ChainAndName);
    }
    ssl
}

/// What `sslmode` makes of `ssl`, in node-postgres's own meanings or, with
/// `uselibpqcompat=true`, libpq's.
fn with_sslmode(
    ssl: Ssl,
    mode: &str,
    libpq: bool,
    has_rootcert: bool,
    notices: &mut Vec<String>,
) -> Result<Ssl> {
    Ok(match (libpq, mode) {
        (_, "disable") => Ssl::Off,
        (false, "prefer" | "require" | "verify-ca" | "verify-full") | (true, "verify-full") => ssl,
        (false, "no-verify") | (true, "prefer") => Ssl::On(Check::Nothing),
        (true, "require" | "verify-ca") if has_rootcert => Ssl::On(Check::Chain),
        (true, "require") => Ssl::On(Check::Nothing),
        (true, "verify-ca") => return Err(ParamError::VerifyCaWithoutRootCert),
        (true, "no-verify") => {
            notices.push(
                "with uselibpqcompat=true node-postgres does not know sslmode=no-verify and checks the certificate and host name; so does keyrotate"
                    .to_owned(),
            );
            ssl
        }
        (_, _) => {
            return Err(ParamError::UnknownSslmode {
                mode: looks_like_a_name(mode).then(|| mode.to_owned()),
            })
        }
    })
}

/// The check TLS ends with, or `None` for no TLS.
fn settled(
    ssl: Ssl,
    direct: bool,
    p: &TlsParams,
    notices: &mut Vec<String>,
) -> Result<Option<Check>> {
    match ssl {
        Ssl::On(check) => Ok(Some(check)),
        Ssl::Off if direct => Err(ParamError::DirectWithoutTls),
        Ssl::Off if p.names_a_file() => {
            notices.push(
                "sslmode=disable: no TLS, so sslrootcert, sslcert and sslkey are not used"
                    .to_owned(),
            );
            Ok(None)
        }
        Ssl::Off | Ssl::Unset => Ok(None),
        Ssl::Unusable => Err(ParamError::UnknownSsl),
    }
}

/// `sslcert` and `sslkey`, both or neither.
fn client_files(p: &TlsParams) -> Result<Option<ClientFiles>> {
    match (TlsParams::given(&p.sslcert), TlsParams::given(&p.sslkey)) {
        (Some(cert), Some(key)) => Ok(Some(ClientFiles {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        })),
        (None, None) => Ok(None),
        _ => Err(ParamError::HalfAClientCertificate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TLS reading of a query string (`&`-separated `name=value`).
    fn read_query(query: &str) -> Result<Option<Tls>> {
        read_noting(query, &mut Vec::new())
    }

    fn read_noting(query: &str, notices: &mut Vec<String>) -> Result<Option<Tls>> {
        let mut params = TlsParams::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap();
            *params.slot(name).unwrap() = Some(value.to_owned());
        }
        read(&params, notices)
    }

    fn check(query: &str) -> Option<Check> {
        read_query(query)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .map(|tls| tls.check)
    }

    fn refused(query: &str) -> String {
        match read_query(query) {
            Err(e) => e.to_string(),
            Ok(tls) => panic!("{query} should be refused, got {tls:?}"),
        }
    }

    use Check::{Chain, ChainAndName, Nothing};

    #[test]
    fn node_postgres_meanings() {
        let ca = "sslrootcert=/ca.pem";
        for (query, expected) in [
            ("", None),
            ("ssl=true", Some(ChainAndName)),
            ("ssl=1", Some(ChainAndName)),
            ("ssl=0", None),
            ("ssl=", None),
            ("ssl=no-verify", Some(Nothing)),
            ("sslmode=", None),
            ("sslmode=disable", None),
            ("ssl=true&sslmode=disable", None),
            ("sslmode=disable&sslrootcert=/ca.pem&sslcert=/c.pem", None),
            ("sslmode=no-verify", Some(Nothing)),
            ("sslmode=no-verify&sslrootcert=/ca.pem", Some(Nothing)),
            ("sslmode=prefer", Some(ChainAndName)),
            ("sslmode=require", Some(ChainAndName)),
            ("sslmode=verify-ca", Some(ChainAndName)),
            ("sslmode=verify-full", Some(ChainAndName)),
            (&format!("sslmode=require&{ca}"), Some(ChainAndName)),
            (&format!("sslmode=verify-ca&{ca}"), Some(ChainAndName)),
            (ca, Some(ChainAndName)),
            (&format!("ssl=0&{ca}"), Some(ChainAndName)),
            ("ssl=0&sslmode=require", Some(ChainAndName)),
            ("ssl=false&sslmode=require", Some(ChainAndName)),
            ("ssl=false&sslmode=disable", None),
            ("ssl=no-verify&sslmode=require", Some(ChainAndName)),
            ("sslcert=/c.pem&sslkey=/k.pem", Some(ChainAndName)),
            ("sslnegotiation=direct", Some(ChainAndName)),
            ("sslnegotiation=postgres", None),
            ("sslmode=require&sslmode=", None),
            ("uselibpqcompat=TRUE&sslmode=require", Some(ChainAndName)),
        ] {
            assert_eq!(check(query), expected, "{query}");
        }
    }

    #[test]
    fn libpq_meanings_under_uselibpqcompat() {
        let libpq = |q: &str| check(&format!("uselibpqcompat=true&{q}"));
        let ca = "sslrootcert=/ca.pem";
        assert_eq!(libpq(""), None);
        assert_eq!(libpq("ssl=true"), Some(ChainAndName));
        assert_eq!(libpq("sslmode=disable"), None);
        assert_eq!(libpq("sslmode=prefer"), Some(Nothing));
        assert_eq!(libpq(&format!("sslmode=prefer&{ca}")), Some(Nothing));
        assert_eq!(libpq("sslmode=require"), Some(Nothing));
        assert_eq!(libpq(&format!("sslmode=require&{ca}")), Some(Chain));
        assert_eq!(libpq(&format!("sslmode=verify-ca&{ca}")), Some(Chain));
        assert_eq!(libpq("sslmode=verify-full"), Some(ChainAndName));
        assert_eq!(
            libpq(&format!("sslmode=verify-full&{ca}")),
            Some(ChainAndName)
        );
        assert_eq!(libpq("sslmode=no-verify"), Some(ChainAndName));
        assert!(refused("uselibpqcompat=true&sslmode=verify-ca").contains("needs sslrootcert"));
    }

    #[test]
    fn unknown_or_contradictory_settings_are_refused() {
        for mode in ["allow", "bogus", "verify_full", "REQUIRE"] {
            for libpq in ["", "uselibpqcompat=true&"] {
                let err = refused(&format!("{libpq}sslmode={mode}"));
                assert!(
                    err.contains(&format!("unknown sslmode \"{mode}\"")),
                    "{err}"
                );
                assert!(err.contains("verify-full"), "{err}");
            }
        }
        assert!(!refused("sslmode=a%20b%3F").contains("a%20b"));
        assert!(refused("sslnegotiation=fast").contains("postgres or direct"));
        for value in ["false", "yes", "TRUE", "require"] {
            assert!(
                refused(&format!("ssl={value}")).contains("ssl must be true, 1, 0 or no-verify")
            );
        }
        assert!(refused("sslnegotiation=direct&ssl=0").contains("needs TLS"));
        assert!(refused("sslnegotiation=direct&sslmode=disable").contains("needs TLS"));
        assert!(refused("sslcert=/c.pem").contains("go together"));
        assert!(refused("sslkey=/k.pem&sslmode=require").contains("go together"));
    }

    #[test]
    fn files_and_negotiation_are_kept() {
        let tls = read_query("sslmode=verify-full&sslrootcert=/ca.pem&sslcert=/c.pem&sslkey=/k.pem&sslnegotiation=direct")
            .unwrap()
            .unwrap();
        assert_eq!(
            tls,
            Tls {
                check: ChainAndName,
                rootcert: Some("/ca.pem".into()),
                client: Some(ClientFiles {
                    cert: "/c.pem".into(),
                    key: "/k.pem".into()
                }),
                direct: true,
            }
        );
    }

    #[test]
    fn notices_say_what_was_not_obvious() {
        let notices = |query: &str| {
            let mut notices = Vec::new();
            read_noting(query, &mut notices).unwrap();
            notices.join("\n")
        };
        assert!(notices("uselibpqcompat=1&sslmode=require").contains("neither true nor false"));
        assert!(notices("uselibpqcompat=true&sslmode=no-verify").contains("does not know"));
        assert!(notices("sslmode=no-verify&sslrootcert=/ca.pem").contains("not used"));
        assert!(notices("sslmode=disable&sslrootcert=/ca.pem").contains("not used"));
        assert_eq!(notices("sslmode=verify-full"), "");
    }
}
