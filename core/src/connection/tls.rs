//! TLS as the backend's driver does it: what the URL's TLS parameters mean
//! (pg-connection-string 2.14's `parse`, then pg 8's `ConnectionParameters`),
//! which certificate authorities are trusted (Node's), and a rustls
//! configuration that checks what Node's `tls.connect` checks and never less.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use x509_cert::der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Decode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Where Node looks for CAs to add to its bundled ones.
pub(super) const EXTRA_CA_VARIABLE: &str = "NODE_EXTRA_CA_CERTS";

/// The CAs the Node that loaded keyrotate bundles, once the binding has
/// handed them over.
static NODE_BUNDLED_CAS: OnceLock<RootCertStore> = OnceLock::new();

/// Trust the CAs the running Node bundles (`tls.rootCertificates`, PEM) by
/// default, instead of webpki-roots' copy of Mozilla's list, which is a
/// few months apart from any given Node's (docs/connection.md). The first
/// call wins; returns how many CAs are in use.
pub fn trust_node_bundled_cas(pems: &[String]) -> Result<usize> {
    let mut store = RootCertStore::empty();
    for pem in pems {
        CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| e.to_string())
            .and_then(|cert| store.add(cert).map_err(|e| e.to_string()))
            .map_err(|e| {
                Error::internal(format!("a CA certificate Node bundles is unusable: {e}"))
            })?;
    }
    Ok(NODE_BUNDLED_CAS.get_or_init(|| store).len())
}

const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");

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
    let libpq = p.uselibpqcompat.as_deref() == Some("true");
    if !matches!(
        p.uselibpqcompat.as_deref(),
        None | Some("true" | "false" | "")
    ) {
        notices.push(
            "uselibpqcompat is neither true nor false; node-postgres then keeps its own sslmode meanings, and so does keyrotate"
                .to_owned(),
        );
    }
    let sslmode = TlsParams::given(&p.sslmode);
    let rootcert = TlsParams::given(&p.sslrootcert).map(PathBuf::from);

    let mut ssl = match p.ssl.as_deref() {
        None => Ssl::Unset,
        Some("" | "0") => Ssl::Off,
        Some("true" | "1") => Ssl::On(Check::ChainAndName),
        Some("no-verify") => Ssl::On(Check::Nothing),
        Some(_) => Ssl::Unusable,
    };
    if sslmode.is_some() || p.names_a_file() {
        ssl = Ssl::On(Check::ChainAndName);
    }
    let direct = match TlsParams::given(&p.sslnegotiation) {
        None | Some("postgres") => false,
        Some("direct") => true,
        Some(_) => {
            return Err(Error::invalid_argument(
                "sslnegotiation must be postgres or direct",
            ))
        }
    };
    if direct && ssl == Ssl::Unset {
        ssl = Ssl::On(Check::ChainAndName);
    }
    if let Some(mode) = sslmode {
        ssl = match (libpq, mode) {
            (_, "disable") => Ssl::Off,
            (false, "prefer" | "require" | "verify-ca" | "verify-full") | (true, "verify-full") => {
                ssl
            }
            (false, "no-verify") | (true, "prefer") => Ssl::On(Check::Nothing),
            (true, "require") if rootcert.is_some() => Ssl::On(Check::Chain),
            (true, "require") => Ssl::On(Check::Nothing),
            (true, "verify-ca") if rootcert.is_some() => Ssl::On(Check::Chain),
            (true, "verify-ca") => {
                return Err(Error::invalid_argument(
                    "sslmode=verify-ca with uselibpqcompat=true needs sslrootcert: a public CA vouches for names anyone can register, so without the host-name check only your own CA makes the chain meaningful (node-postgres refuses this URL too)",
                ))
            }
            (true, "no-verify") => {
                notices.push(
                    "with uselibpqcompat=true node-postgres does not know sslmode=no-verify and checks the certificate and host name; so does keyrotate"
                        .to_owned(),
                );
                ssl
            }
            (_, _) => {
                let shown = if super::url::looks_like_a_name(mode) {
                    format!("unknown sslmode {mode:?}")
                } else {
                    "an unknown sslmode".to_owned()
                };
                return Err(Error::invalid_argument(format!(
                    "{shown}; expected disable, no-verify, prefer, require, verify-ca or verify-full (node-postgres would read it as verify-full: write that if it is meant)"
                )));
            }
        };
    }

    let check = match ssl {
        Ssl::On(check) => check,
        Ssl::Off if direct => {
            return Err(Error::invalid_argument(
                "sslnegotiation=direct needs TLS, but the URL turns TLS off",
            ))
        }
        Ssl::Off if p.names_a_file() => {
            notices.push(
                "sslmode=disable: no TLS, so sslrootcert, sslcert and sslkey are not used"
                    .to_owned(),
            );
            return Ok(None);
        }
        Ssl::Off | Ssl::Unset => return Ok(None),
        Ssl::Unusable => {
            return Err(Error::invalid_argument(
                "ssl must be true, 1, 0 or no-verify (node-postgres cannot connect with any other value either)",
            ))
        }
    };
    let client = match (
        TlsParams::given(&p.sslcert),
        TlsParams::given(&p.sslkey),
    ) {
        (Some(cert), Some(key)) => Some(ClientFiles {
            cert: PathBuf::from(cert),
            key: PathBuf::from(key),
        }),
        (None, None) => None,
        _ => {
            return Err(Error::invalid_argument(
                "sslcert and sslkey go together: give both (a PEM client certificate and its unencrypted key) or neither",
            ))
        }
    };
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

impl Tls {
    /// The rustls configuration: reads `sslrootcert`, `NODE_EXTRA_CA_CERTS`
    /// (only when the default CAs are used) and the client certificate.
    pub(super) fn client_config(&self) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let trust = match &self.rootcert {
            Some(path) => Trust::from_file(path)?,
            None if self.check == Check::Nothing => Trust::none(),
            None => Trust::node_default()?,
        };
        let verifier = NodeVerifier {
            check: self.check,
            roots: Arc::new(trust.store),
            trusted_certs: trust.certs,
            algorithms: provider.signature_verification_algorithms,
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier));
        let mut config = match &self.client {
            Some(files) => {
                let (certs, key) = files.read()?;
                builder.with_client_auth_cert(certs, key).map_err(|e| {
                    format!(
                        "cannot use the client certificate {} with the key {}: {e}",
                        files.cert.display(),
                        files.key.display()
                    )
                })?
            }
            None => builder.with_no_client_auth(),
        };
        if self.direct {
            // PostgreSQL 17 refuses direct TLS without this ALPN protocol.
            config.alpn_protocols = vec![b"postgresql".to_vec()];
        }
        Ok(config)
    }

    /// Where the trusted CAs come from, for error messages.
    pub(super) fn trusted_cas(&self) -> String {
        match &self.rootcert {
            Some(path) => format!("the CAs in sslrootcert {}", path.display()),
            None => format!(
                "{}, plus any in {EXTRA_CA_VARIABLE}; give the server's CA with sslrootcert=/path/to/ca.pem",
                match NODE_BUNDLED_CAS.get() {
                    Some(store) => format!("the {} Mozilla CAs this Node bundles", store.len()),
                    None => format!(
                        "the {} Mozilla CAs of webpki-roots",
                        webpki_roots::TLS_SERVER_ROOTS.len()
                    ),
                }
            ),
        }
    }
}

impl ClientFiles {
    fn read(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
        let certs = read_certificates(&self.cert, "sslcert")?;
        let shown = self.key.display();
        let pem = Zeroizing::new(
            fs::read(&self.key).map_err(|e| format!("cannot read sslkey {shown}: {e}"))?,
        );
        if is_encrypted(&pem) {
            return Err(format!(
                "sslkey {shown} is encrypted with a passphrase, which a URL cannot supply (node-postgres cannot use it either); \
                 write an unencrypted copy readable only by you (openssl pkey -in {shown} -out client.key) and give that"
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
            format!("sslkey {shown} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {e}")
        })?;
        Ok((certs, key))
    }
}

fn is_encrypted(pem: &[u8]) -> bool {
    let contains = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    contains(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(b"Proc-Type: 4,ENCRYPTED")
}

fn read_certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let shown = path.display();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read {what} {shown}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{what} {shown} holds no PEM certificate"));
    }
    Ok(certs)
}

/// The trusted CAs, and the full certificates of those read from files
/// (a self-signed server certificate may be trusted as itself).
struct Trust {
    store: RootCertStore,
    certs: Vec<CertificateDer<'static>>,
}

impl Trust {
    fn none() -> Trust {
        Trust {
            store: RootCertStore::empty(),
            certs: Vec::new(),
        }
    }

    fn from_file(path: &Path) -> Result<Trust, String> {
        let mut trust = Trust::none();
        trust.add_file(path, "sslrootcert")?;
        Ok(trust)
    }

    /// Node's default: the Mozilla CAs it bundles (webpki-roots, also
    /// Mozilla's list, outside Node), plus the file `NODE_EXTRA_CA_CERTS`
    /// names.
    fn node_default() -> Result<Trust, String> {
        let mut trust = Trust {
            store: match NODE_BUNDLED_CAS.get() {
                Some(store) => store.clone(),
                None => webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
            },
            certs: Vec::new(),
        };
        if let Some(path) = std::env::var_os(EXTRA_CA_VARIABLE).filter(|p| !p.is_empty()) {
            trust.add_file(Path::new(&path), EXTRA_CA_VARIABLE)?;
        }
        Ok(trust)
    }

    fn add_file(&mut self, path: &Path, what: &str) -> Result<(), String> {
        for cert in read_certificates(path, what)? {
            self.store.add(cert.clone()).map_err(|e| {
                format!(
                    "{what} {} holds a certificate that cannot be a CA: {e}",
                    path.display()
                )
            })?;
            self.certs.push(cert);
        }
        Ok(())
    }
}

/// Checks the server's certificate as Node's `tls.connect` does for the
/// [`Check`] asked for, using rustls's own chain and name checks, plus the
/// two things OpenSSL accepts and webpki does not, both kept narrow:
/// - a self-signed server certificate that is itself among the trusted
///   certificates (PostgreSQL's documented `openssl req -x509` setup, a CA
///   certificate used as the server's), if it is within its validity period
///   and fit for a TLS server;
/// - for a host name, the certificate's subject CN when it lists no DNS
///   name at all (Node's rule), matched exactly, never as a wildcard.
///
/// The handshake's signatures are checked in every mode, so the session is
/// sound even where the certificate is not checked.
#[derive(Debug)]
struct NodeVerifier {
    check: Check,
    roots: Arc<RootCertStore>,
    trusted_certs: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for NodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.check == Check::Nothing {
            return Ok(ServerCertVerified::assertion());
        }
        let cert = ParsedCertificate::try_from(end_entity)?;
        if !self.trusted_as_itself(end_entity, now)? {
            rustls::client::verify_server_cert_signed_by_trust_anchor(
                &cert,
                &self.roots,
                intermediates,
                now,
                self.algorithms.all,
            )
            .map_err(|e| match self_issued(end_entity) {
                // webpki calls it a CA used as an end entity; to the
                // operator it is a certificate no trusted CA signed.
                true => CertificateError::UnknownIssuer.into(),
                false => e,
            })?;
        }
        if self.check == Check::ChainAndName {
            if let Err(e) = rustls::client::verify_server_name(&cert, server_name) {
                let by_common_name = match server_name {
                    ServerName::DnsName(name) => named_by_common_name(end_entity, name.as_ref()),
                    _ => false,
                };
                if !by_common_name {
                    return Err(e);
                }
            }
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

impl NodeVerifier {
    /// Whether `der` is, byte for byte, a self-signed certificate the
    /// operator trusts, valid now and usable by a TLS server. An expired one
    /// is an error, as OpenSSL reports it.
    fn trusted_as_itself(
        &self,
        der: &CertificateDer<'_>,
        now: UnixTime,
    ) -> Result<bool, rustls::Error> {
        if !self
            .trusted_certs
            .iter()
            .any(|c| c.as_ref() == der.as_ref())
        {
            return Ok(false);
        }
        let Ok(cert) = Certificate::from_der(der.as_ref()) else {
            return Ok(false);
        };
        let tbs = &cert.tbs_certificate;
        if !self_issued(der) || !fit_for_a_server(&cert) {
            return Ok(false);
        }
        let now = now.as_secs();
        if now < tbs.validity.not_before.to_unix_duration().as_secs() {
            return Err(CertificateError::NotValidYet.into());
        }
        if now > tbs.validity.not_after.to_unix_duration().as_secs() {
            return Err(CertificateError::Expired.into());
        }
        Ok(true)
    }
}

fn self_issued(der: &CertificateDer<'_>) -> bool {
    Certificate::from_der(der.as_ref())
        .is_ok_and(|cert| cert.tbs_certificate.issuer == cert.tbs_certificate.subject)
}

/// OpenSSL's "SSL server" purpose: an extended key usage, if present, must
/// allow server authentication, and a key usage, if present, must allow
/// signing or key exchange.
fn fit_for_a_server(cert: &Certificate) -> bool {
    for ext in cert.tbs_certificate.extensions.iter().flatten() {
        let value = ext.extn_value.as_bytes();
        if ext.extn_id == ObjectIdentifier::new_unwrap("2.5.29.37") {
            match ExtendedKeyUsage::from_der(value) {
                Ok(eku) if eku.0.contains(&OID_SERVER_AUTH) => {}
                _ => return false,
            }
        } else if ext.extn_id == ObjectIdentifier::new_unwrap("2.5.29.15") {
            match KeyUsage::from_der(value) {
                Ok(ku)
                    if ku.0.contains(KeyUsages::DigitalSignature)
                        || ku.0.contains(KeyUsages::KeyEncipherment)
                        || ku.0.contains(KeyUsages::KeyAgreement) => {}
                _ => return false,
            }
        }
    }
    true
}

/// Node's fallback for a certificate without DNS names: its subject CN
/// names the host. Only an exact, case-insensitive match counts.
fn named_by_common_name(der: &CertificateDer<'_>, host: &str) -> bool {
    let Ok(cert) = Certificate::from_der(der.as_ref()) else {
        return false;
    };
    let tbs = &cert.tbs_certificate;
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id == ObjectIdentifier::new_unwrap("2.5.29.17") {
            match SubjectAltName::from_der(ext.extn_value.as_bytes()) {
                Ok(san) if !san.0.iter().any(|n| matches!(n, GeneralName::DnsName(_))) => {}
                _ => return false,
            }
        }
    }
    let host = host.strip_suffix('.').unwrap_or(host);
    tbs.subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == OID_COMMON_NAME)
        .filter_map(|atv| {
            let value = &atv.value;
            match value.tag() {
                Tag::Utf8String => value
                    .decode_as::<Utf8StringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string()),
                Tag::PrintableString => value
                    .decode_as::<PrintableStringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string()),
                Tag::Ia5String => value
                    .decode_as::<Ia5StringRef<'_>>()
                    .ok()
                    .map(|s| s.to_string()),
                _ => None,
            }
        })
        .any(|cn| cn.eq_ignore_ascii_case(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The TLS reading of a query string (`&`-separated `name=value`).
    fn read_query(query: &str) -> Result<Option<Tls>> {
        let mut params = TlsParams::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap();
            *params.slot(name).unwrap() = Some(value.to_owned());
        }
        read(&params, &mut Vec::new())
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
            let mut params = TlsParams::default();
            for pair in query.split('&') {
                let (name, value) = pair.split_once('=').unwrap();
                *params.slot(name).unwrap() = Some(value.to_owned());
            }
            let mut notices = Vec::new();
            read(&params, &mut notices).unwrap();
            notices.join("\n")
        };
        assert!(notices("uselibpqcompat=1&sslmode=require").contains("neither true nor false"));
        assert!(notices("uselibpqcompat=true&sslmode=no-verify").contains("does not know"));
        assert!(notices("sslmode=no-verify&sslrootcert=/ca.pem").contains("not used"));
        assert!(notices("sslmode=disable&sslrootcert=/ca.pem").contains("not used"));
        assert_eq!(notices("sslmode=verify-full"), "");
    }

    #[test]
    fn encrypted_keys_are_recognised() {
        assert!(is_encrypted(
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIH\n"
        ));
        assert!(is_encrypted(
            b"-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n"
        ));
        assert!(!is_encrypted(b"-----BEGIN PRIVATE KEY-----\nMIG\n"));
    }
}
