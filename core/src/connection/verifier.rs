//! Checking the server's certificate as Node's `tls.connect` does.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use x509_cert::der::asn1::{Ia5StringRef, ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Decode, Tag, Tagged};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName};
use x509_cert::Certificate;

use super::tls::Check;

const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");

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
pub(super) struct NodeVerifier {
    pub(super) check: Check,
    pub(super) roots: Arc<RootCertStore>,
    pub(super) trusted_certs: Vec<CertificateDer<'static>>,
    pub(super) algorithms: WebPkiSupportedAlgorithms,
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
    use Check::{Chain, ChainAndName, Nothing};

    /// A self-signed certificate named only by its CN, like PostgreSQL's
    /// documented `openssl req -x509 -subj /CN=...` one.
    fn self_signed(
        cn: &str,
        tweak: impl FnOnce(&mut rcgen::CertificateParams),
    ) -> CertificateDer<'static> {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        tweak(&mut params);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().clone()
    }

    fn verifier(check: Check, trusted: &[&CertificateDer<'static>]) -> NodeVerifier {
        let mut roots = RootCertStore::empty();
        for cert in trusted {
            roots.add((*cert).clone()).unwrap();
        }
        NodeVerifier {
            check,
            roots: Arc::new(roots),
            trusted_certs: trusted.iter().map(|c| (*c).clone()).collect(),
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }

    fn verify(
        v: &NodeVerifier,
        cert: &CertificateDer<'_>,
        host: &str,
    ) -> Result<(), rustls::Error> {
        let name = ServerName::try_from(host.to_owned()).unwrap();
        v.verify_server_cert(cert, &[], &name, &[], UnixTime::now())
            .map(drop)
    }

    #[test]
    fn a_self_signed_certificate_trusted_as_itself_is_checked_as_node_does() {
        let cert = self_signed("db.example", |_| {});
        let full = verifier(ChainAndName, &[&cert]);
        assert_eq!(verify(&full, &cert, "db.example"), Ok(()));
        assert_eq!(
            verify(&full, &cert, "DB.Example."),
            Ok(()),
            "case and a final dot do not matter"
        );
        assert!(matches!(
            verify(&full, &cert, "other.example"),
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }
            ))
        ));
        // A CN never names an address.
        assert!(verify(&full, &cert, "127.0.0.1").is_err());
        assert_eq!(
            verify(&verifier(Chain, &[&cert]), &cert, "127.0.0.1"),
            Ok(())
        );
        // Not trusted: a certificate no trusted CA signed.
        let other = self_signed("db.example", |_| {});
        assert_eq!(
            verify(&full, &other, "db.example"),
            Err(CertificateError::UnknownIssuer.into())
        );
        assert_eq!(verify(&verifier(Nothing, &[]), &other, "anything"), Ok(()));
    }

    #[test]
    fn trusted_as_itself_only_when_valid_now_and_fit_for_a_server() {
        let expired = self_signed("db.example", |p| {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2021, 1, 1);
        });
        assert_eq!(
            verify(&verifier(ChainAndName, &[&expired]), &expired, "db.example"),
            Err(CertificateError::Expired.into())
        );
        let for_clients = self_signed("db.example", |p| {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        });
        assert!(verify(
            &verifier(Chain, &[&for_clients]),
            &for_clients,
            "db.example"
        )
        .is_err());
        let ca_only = self_signed("db.example", |p| {
            p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
        });
        assert!(verify(&verifier(Chain, &[&ca_only]), &ca_only, "db.example").is_err());
        let for_servers = self_signed("db.example", |p| {
            p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
            p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        });
        assert_eq!(
            verify(
                &verifier(Chain, &[&for_servers]),
                &for_servers,
                "db.example"
            ),
            Ok(())
        );
    }

    #[test]
    fn the_common_name_counts_only_without_dns_names_and_never_as_a_wildcard() {
        let wildcard = self_signed("*.example", |_| {});
        assert!(!named_by_common_name(&wildcard, "db.example"));
        assert!(named_by_common_name(
            &self_signed("db.example", |_| {}),
            "db.example"
        ));
        let with_san = self_signed("db.example", |p| {
            p.subject_alt_names =
                vec![rcgen::SanType::DnsName("other.example".try_into().unwrap())];
        });
        assert!(!named_by_common_name(&with_san, "db.example"));
        let ip_only = self_signed("db.example", |p| {
            p.subject_alt_names = vec![rcgen::SanType::IpAddress([127, 0, 0, 1].into())];
        });
        assert!(
            named_by_common_name(&ip_only, "db.example"),
            "Node: no DNS name, so the CN"
        );
    }
}
