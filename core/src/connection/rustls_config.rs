//! The rustls configuration for a connection's [`Tls`]: the CAs and client
//! certificate of [`super::certs`], checked by [`NodeVerifier`] as Node's
//! `tls.connect` checks, and never less.

use std::fmt;
use std::sync::Arc;

use rustls::ClientConfig;

use super::certs::{self, FileError, Trust};
use super::tls::{Check, Tls};
use super::verifier::NodeVerifier;

/// Why TLS cannot be set up for a connection, before any byte is sent.
#[derive(Debug)]
pub(super) enum ConfigError {
    /// A CA file, the client certificate or its key cannot be used.
    File(FileError),
    /// rustls offers none of the protocol versions asked for.
    Protocols(rustls::Error),
}

impl From<FileError> for ConfigError {
    fn from(e: FileError) -> Self {
        ConfigError::File(e)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::File(e) => write!(f, "{e}"),
            ConfigError::Protocols(e) => write!(f, "cannot set up TLS: {e}"),
        }
    }
}

/// The rustls configuration: reads `sslrootcert`, `NODE_EXTRA_CA_CERTS`
/// (only when the default CAs are used) and the client certificate.
pub(super) fn client_config(tls: &Tls) -> Result<ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let identity = match &tls.client {
        Some(files) => Some(certs::client_certified_key(files, &provider)?),
        None => None,
    };
    let trust = match &tls.rootcert {
        Some(path) => Trust::from_file(path)?,
        None if tls.check == Check::Nothing => Trust::none(),
        None => Trust::node_default()?,
    };
    let verifier = NodeVerifier {
        check: tls.check,
        roots: Arc::new(trust.store),
        trusted_certs: trust.certs,
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Protocols)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some(identity) => builder.with_client_cert_resolver(Arc::new(certs::ClientCert(identity))),
        None => builder.with_no_client_auth(),
    };
    if tls.direct {
        // PostgreSQL 17 refuses direct TLS without this ALPN protocol.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
    }
    Ok(config)
}
