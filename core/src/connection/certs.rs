//! What TLS trusts and presents, read when connecting: the CAs (those the
//! running Node bundles, plus `NODE_EXTRA_CA_CERTS`; or `sslrootcert`
//! instead, as Node's `ca` option replaces both), and the client
//! certificate with its key.

use std::fs;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::client::ResolvesClientCert;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, SignatureScheme};
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;
use zeroize::Zeroizing;

use super::tls::ClientFiles;
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
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let certs = read_certificates(&files.cert, "sslcert")?;
    let shown = files.key.display();
    let pem = Zeroizing::new(
        fs::read(&files.key).map_err(|e| format!("cannot read sslkey {shown}: {e}"))?,
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

/// The client identity as rustls presents it. Built here rather than by
/// rustls's `with_client_auth_cert`, whose key check parses the certificate
/// with webpki, which refuses X.509 version 1 certificates; PostgreSQL's
/// documentation makes client certificates that way (`openssl x509 -req`
/// without an extensions file), and node-postgres (OpenSSL) presents them.
/// The check that matters is kept: the key must be the certificate's.
pub(super) fn client_certified_key(
    files: &ClientFiles,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<Arc<CertifiedKey>, String> {
    let (chain, key) = client_identity(files)?;
    let (cert_shown, key_shown) = (files.cert.display(), files.key.display());
    let refused = |why: String| {
        format!("cannot use the client certificate {cert_shown} with the key {key_shown}: {why}")
    };
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| refused(e.to_string()))?;
    let end_entity = chain
        .first()
        .ok_or_else(|| format!("sslcert {cert_shown} holds no certificate"))?;
    let certificate_key = Certificate::from_der(end_entity.as_ref())
        .and_then(|c| c.tbs_certificate.subject_public_key_info.to_der())
        .map_err(|e| refused(format!("the certificate cannot be read ({e})")))?;
    match signing.public_key() {
        Some(key) if key.as_ref() == certificate_key.as_slice() => {}
        Some(_) => return Err(refused("the key is not the certificate's".into())),
        None => {
            return Err(refused(
                "the key's public half cannot be checked against the certificate".into(),
            ))
        }
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

    pub(super) fn from_file(path: &Path) -> Result<Trust, String> {
        let mut trust = Trust::none();
        trust.add_file(path, "sslrootcert")?;
        Ok(trust)
    }

    /// Node's default: the Mozilla CAs it bundles (webpki-roots, also
    /// Mozilla's list, outside Node), plus the file `NODE_EXTRA_CA_CERTS`
    /// names.
    pub(super) fn node_default() -> Result<Trust, String> {
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
