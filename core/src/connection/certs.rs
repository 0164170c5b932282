//! What TLS trusts and presents, read when connecting: the CAs (those the
//! running Node bundles, plus `NODE_EXTRA_CA_CERTS`; or `sslrootcert`
//! instead, as Node's `ca` option replaces both), and the client
//! certificate with its key.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SignatureScheme};
use x509_cert::der::{self, Decode, Encode};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use super::tls::ClientFiles;
use crate::{Error, Result};

/// Where Node looks for CAs to add to its bundled ones.
pub(super) const EXTRA_CA_VARIABLE: &str = "NODE_EXTRA_CA_CERTS";

/// The CAs the Node that loaded keyrotate bundles, once the binding has
/// handed them over.
static NODE_BUNDLED_CAS: OnceLock<RootCertStore> = OnceLock::new();

/// A file TLS reads, named as the operator names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TlsFile {
    /// `sslrootcert`: the CAs that replace the defaults.
    RootCert,
    /// `NODE_EXTRA_CA_CERTS`: CAs added to the defaults.
    ExtraCas,
    /// `sslcert`: the client certificate (chain).
    ClientCert,
}

impl fmt::Display for TlsFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsFile::RootCert => "sslrootcert",
            TlsFile::ExtraCas => EXTRA_CA_VARIABLE,
            TlsFile::ClientCert => "sslcert",
        })
    }
}

/// Why a CA file, the client certificate or its key cannot be used. Each
/// names the file and its path, never what it holds.
#[derive(Debug)]
pub(super) enum FileError {
    /// The certificate file cannot be read, or is not PEM.
    Unreadable {
        file: TlsFile,
        path: PathBuf,
        why: pem::Error,
    },
    /// The certificate file holds no PEM certificate.
    NoCertificate { file: TlsFile, path: PathBuf },
    /// A certificate in a CA file cannot be a trust anchor.
    NotACa {
        file: TlsFile,
        path: PathBuf,
        why: rustls::Error,
    },
    /// `sslkey` cannot be read.
    KeyUnreadable { path: PathBuf, why: io::Error },
    /// `sslkey` is encrypted, and a URL cannot give its passphrase.
    KeyEncrypted { path: PathBuf },
    /// `sslkey` holds no PEM private key.
    NoKey { path: PathBuf, why: pem::Error },
    /// The key and the certificate do not make one client identity.
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        why: Mismatch,
    },
}

/// Why `sslkey` cannot be used with `sslcert`.
#[derive(Debug)]
pub(super) enum Mismatch {
    /// rustls cannot sign with the key.
    KeyUnusable(rustls::Error),
    /// The certificate's public key cannot be read.
    CertificateUnreadable(der::Error),
    /// The key belongs to another certificate.
    OtherCertificate,
    /// The key's public half is unknown, so the pair cannot be checked.
    PublicHalfUnknown,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileError::Unreadable { file, path, why } => {
                write!(f, "cannot read {file} {}: {why}", path.display())
            }
            FileError::NoCertificate { file, path } => {
                write!(f, "{file} {} holds no PEM certificate", path.display())
            }
            FileError::NotACa { file, path, why } => write!(
                f,
                "{file} {} holds a certificate that cannot be a CA: {why}",
                path.display()
            ),
            FileError::KeyUnreadable { path, why } => {
                write!(f, "cannot read sslkey {}: {why}", path.display())
            }
            FileError::KeyEncrypted { path } => {
                let shown = path.display();
                write!(
                    f,
                    "sslkey {shown} is encrypted with a passphrase, which a URL cannot supply (node-postgres cannot use it either); \
                     write an unencrypted copy readable only by you (openssl pkey -in {shown} -out client.key) and give that"
                )
            }
            FileError::NoKey { path, why } => write!(
                f,
                "sslkey {} holds no PEM private key (PKCS#8, PKCS#1 or SEC1): {why}",
                path.display()
            ),
            FileError::Mismatch { cert, key, why } => write!(
                f,
                "cannot use the client certificate {} with the key {}: {why}",
                cert.display(),
                key.display()
            ),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::KeyUnusable(why) => write!(f, "{why}"),
            Mismatch::CertificateUnreadable(why) => {
                write!(f, "the certificate cannot be read ({why})")
            }
            Mismatch::OtherCertificate => f.write_str("the key is not the certificate's"),
            Mismatch::PublicHalfUnknown => {
                f.write_str("the key's public half cannot be checked against the certificate")
            }
        }
    }
}

/// Trust the CAs the running Node bundles (`tls.rootCertificates`, PEM) by
/// default, instead of webpki-roots' copy of Mozilla's list, which is a
/// few months apart from any given Node's (docs/connection.md). The first
/// call wins; returns how many CAs are in use.
pub fn trust_node_bundled_cas(pems: &[String]) -> Result<usize> {
    let unusable = |why: &dyn fmt::Display| {
        Error::internal(format!("a CA certificate Node bundles is unusable: {why}"))
    };
    let mut store = RootCertStore::empty();
    for pem in pems {
        let cert = CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| unusable(&e))?;
        store.add(cert).map_err(|e| unusable(&e))?;
    }
    Ok(NODE_BUNDLED_CAS.get_or_init(|| store).len())
}

/// The default CAs, in words, for error messages.
pub(super) fn default_cas() -> String {
    match NODE_BUNDLED_CAS.get() {
        Some(store) => format!("the {} Mozilla CAs this Node bundles", store.len()),
        None => format!(
            "the {} Mozilla CAs of webpki-roots",
            webpki_roots::TLS_SERVER_ROOTS.len()
        ),
    }
}

/// The client certificate (chain) and its key, from `sslcert` and `sslkey`.
fn client_identity(
    files: &ClientFiles,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), FileError> {
    let certs = read_certificates(&files.cert, TlsFile::ClientCert)?;
    let path = || files.key.clone();
    let pem = Zeroizing::new(
        fs::read(&files.key).map_err(|why| FileError::KeyUnreadable { path: path(), why })?,
    );
    if is_encrypted(&pem) {
        return Err(FileError::KeyEncrypted { path: path() });
    }
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|why| FileError::NoKey { path: path(), why })?;
    Ok((certs, key))
}

/// The client identity as rustls presents it. Built here rather than by
/// rustls's `with_client_auth_cert`, whose key check parses the certificate
/// with webpki, which refuses X.509 version 1 certificates; PostgreSQL's
/// documentation makes client certificates that way (`openssl x509 -req`
/// without an extensions file), and node-postgres (OpenSSL) presents them.
/// The check that matters is kept: the key must be the certificate's.
pub(super) fn client_certified_key(
    files: &ClientFiles,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, FileError> {
    let (chain, key) = client_identity(files)?;
    let refused = |why: Mismatch| FileError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        why,
    };
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| refused(Mismatch::KeyUnusable(e)))?;
    let end_entity = chain.first().ok_or_else(|| FileError::NoCertificate {
        file: TlsFile::ClientCert,
        path: files.cert.clone(),
    })?;
    let certificate_key = Certificate::from_der(end_entity.as_ref())
        .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der())
        .map_err(|e| refused(Mismatch::CertificateUnreadable(e)))?;
    match signing.public_key() {
        Some(key) if key.as_ref() == certificate_key.as_slice() => {}
        Some(_) => return Err(refused(Mismatch::OtherCertificate)),
        None => return Err(refused(Mismatch::PublicHalfUnknown)),
    }
    Ok(Arc::new(CertifiedKey::new(chain, signing)))
}

/// Presents the one client identity the URL names, whatever the server asks.
#[derive(Debug)]
pub(super) struct ClientCert(pub(super) Arc<CertifiedKey>);

impl ResolvesClientCert for ClientCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

fn is_encrypted(pem: &[u8]) -> bool {
    let contains = |needle: &[u8]| pem.windows(needle.len()).any(|w| w == needle);
    contains(b"-----BEGIN ENCRYPTED PRIVATE KEY-----") || contains(b"Proc-Type: 4,ENCRYPTED")
}

fn read_certificates(
    path: &Path,
    file: TlsFile,
) -> Result<Vec<CertificateDer<'static>>, FileError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|why| FileError::Unreadable {
            file,
            path: path.to_owned(),
            why,
        })?;
    if certs.is_empty() {
        return Err(FileError::NoCertificate {
            file,
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// The trusted CAs, and the full certificates of those read from files
/// (a self-signed server certificate may be trusted as itself).
pub(super) struct Trust {
    pub(super) store: RootCertStore,
    pub(super) certs: Vec<CertificateDer<'static>>,
}

impl Trust {
    pub(super) fn none() -> Trust {
        Trust {
            store: RootCertStore::empty(),
            certs: Vec::new(),
        }
    }

    pub(super) fn from_file(path: &Path) -> Result<Trust, FileError> {
        let mut trust = Trust::none();
        trust.add_file(path, TlsFile::RootCert)?;
        Ok(trust)
    }

    /// Node's default: the Mozilla CAs it bundles (webpki-roots, also
    /// Mozilla's list, outside Node), plus the file `NODE_EXTRA_CA_CERTS`
    /// names.
    pub(super) fn node_default() -> Result<Trust, FileError> {
        let mut trust = Trust {
            store: match NODE_BUNDLED_CAS.get() {
                Some(store) => store.clone(),
                None => webpki_roots::TLS_SERVER_ROOTS.iter().cloned().collect(),
            },
            certs: Vec::new(),
        };
        if let Some(path) = std::env::var_os(EXTRA_CA_VARIABLE).filter(|p| !p.is_empty()) {
            trust.add_file(Path::new(&path), TlsFile::ExtraCas)?;
        }
        Ok(trust)
    }

    fn add_file(&mut self, path: &Path, file: TlsFile) -> Result<(), FileError> {
        for cert in read_certificates(path, file)? {
            self.store
                .add(cert.clone())
                .map_err(|why| FileError::NotACa {
                    file,
                    path: path.to_owned(),
                    why,
                })?;
            self.certs.push(cert);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
