//! The backend's ciphertext format: `base64(iv(16) || ciphertext || tag(16))`
//! under AES-256-GCM. Decoding is as lenient as Node's
//! `Buffer.from(value, 'base64')`, because anything the backend can open must
//! be rotatable; encoding is canonical (standard alphabet, padded), as Node's
//! `toString('base64')` writes it.
//!
//! Newer backend code binds some values to their context with GCM additional
//! authenticated data: `setAAD(Buffer.from(aad, 'utf-8'))`. The AAD is not
//! stored; callers rebuild it for every value. An empty AAD is the same, to
//! GCM, as none, which is how values sealed without one keep opening.

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{AeadInPlace, OsRng};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::Unopened;
use crate::key::Key;

pub const IV_LEN: usize = 16;
pub const TAG_LEN: usize = 16;

/// Why a value did not open. Deliberately carries nothing of the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenError {
    /// Fewer bytes than an IV and a tag.
    TooShort,
    /// The tag did not verify: wrong key, wrong AAD, or the value was altered.
    Authentication,
}

impl From<OpenError> for Unopened {
    fn from(e: OpenError) -> Self {
        match e {
            OpenError::TooShort => Unopened::TooShort,
            OpenError::Authentication => Unopened::Authentication,
        }
    }
}

/// Node's base64 decoder: accepts the standard and URL-safe alphabets, skips
/// every other character (whitespace included), stops at the first `=`, and
/// drops a trailing partial group's leftover bits.
pub fn decode_lenient(value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() / 4 * 3 + 2);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in value.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// Open a stored value with `key` and `aad` (empty for none). The plaintext
/// comes back in a buffer that wipes itself, byte for byte as it was sealed:
/// it is carried over, never interpreted, so even bytes that are not UTF-8
/// survive a rotation exactly.
pub fn open(key: &Key, value: &str, aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    open_decoded(key, &decode(value), aad)
}

/// A stored value's bytes, as Node's `Buffer.from(value, 'base64')` reads
/// them. Nearly every stored value is canonical base64, which the strict
/// (and much faster) decoder reads exactly as Node would; only the rest
/// needs the byte-by-byte lenient path.
pub fn decode(value: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap_or_else(|_| decode_lenient(value))
}

/// [`open`] for a value already decoded: one decode for several AADs.
pub fn open_decoded(key: &Key, raw: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, OpenError> {
    if raw.len() < IV_LEN + TAG_LEN {
        return Err(OpenError::TooShort);
    }
    let (iv, rest) = raw.split_at(IV_LEN);
    let (ciphertext, tag) = rest.split_at(rest.len() - TAG_LEN);
    let mut plaintext = Zeroizing::new(ciphertext.to_vec());
    key.cipher()
        .decrypt_in_place_detached(
            GenericArray::from_slice(iv),
            aad,
            &mut plaintext,
            GenericArray::from_slice(tag),
        )
        .map_err(|_| OpenError::Authentication)?;
    Ok(plaintext)
}

/// Seal `plaintext` under `key` and `aad` (empty for none) with a fresh
/// random IV.
pub fn seal(key: &Key, plaintext: &[u8], aad: &[u8]) -> String {
    let mut iv = [0u8; IV_LEN];
    OsRng.fill_bytes(&mut iv);
    seal_with_iv(key, plaintext, aad, &iv)
}

/// Seal with a caller-chosen IV. Only `seal` and tests use it: reusing an IV
/// under one key destroys GCM's security.
pub(crate) fn seal_with_iv(key: &Key, plaintext: &[u8], aad: &[u8], iv: &[u8; IV_LEN]) -> String {
    // The buffer holds plaintext until encryption overwrites it in place.
    let mut buf = Zeroizing::new(Vec::with_capacity(IV_LEN + plaintext.len() + TAG_LEN));
    buf.extend_from_slice(iv);
    buf.extend_from_slice(plaintext);
    let tag = key
        .cipher()
        .encrypt_in_place_detached(GenericArray::from_slice(iv), aad, &mut buf[IV_LEN..])
        .expect("AES-GCM encryption only fails for plaintexts over 64 GiB");
    buf.extend_from_slice(&tag);
    base64::engine::general_purpose::STANDARD.encode(&buf[..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KeyRole;
    use crate::key::KeyPolicy;

    fn key(s: &str) -> Key {
        Key::parse(KeyRole::Old, s.as_bytes(), KeyPolicy::default())
            .unwrap()
            .0
    }

    const K1: &str = "Zr8qP1vX4mN7bC2kL9sD3fG6hJ0wE5tY";
    const K2: &str = "aQ3wS5eD7rF9tG1yH3uJ5iK7oL9pZ1xC";

    /// Sealed by Node: `encrypt('{"apiKey":"sk-test-123"}', K1)` with IV bytes 0..16,
    /// i.e. the backend's code with a fixed IV, so this pins the exact format.
    const NODE_VECTOR: &str =
        "AAECAwQFBgcICQoLDA0OD6O7xtiCHvHo+JV6oRwUaCqKSLVZ6jScmXXmVO5nIspSGNBEMmRVhXA=";

    #[test]
    fn opens_a_value_sealed_by_node() {
        let pt = open(&key(K1), NODE_VECTOR, b"").unwrap();
        assert_eq!(&pt[..], br#"{"apiKey":"sk-test-123"}"#);
    }

    #[test]
    fn seals_exactly_like_node_for_a_given_iv() {
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let sealed = seal_with_iv(&key(K1), br#"{"apiKey":"sk-test-123"}"#, b"", &iv);
        assert_eq!(sealed, NODE_VECTOR);
    }

    #[test]
    fn round_trips_empty_unicode_and_large() {
        let k = key(K1);
        let big = "x".repeat(1 << 20);
        for pt in ["", "日本語 🔑 e\u{301}", big.as_str()] {
            let sealed = seal(&k, pt.as_bytes(), b"");
            assert_eq!(&open(&k, &sealed, b"").unwrap()[..], pt.as_bytes());
        }
    }

    #[test]
    fn fresh_iv_every_time() {
        let k = key(K1);
        assert_ne!(seal(&k, b"same", b""), seal(&k, b"same", b""));
    }

    #[test]
    fn wrong_key_and_tampering_fail_authentication() {
        let k1 = key(K1);
        assert_eq!(
            open(&key(K2), NODE_VECTOR, b""),
            Err(OpenError::Authentication)
        );
        let mut raw = decode_lenient(NODE_VECTOR);
        let last = raw.len() - 1;
        raw[last] ^= 1;
        let tampered = base64::engine::general_purpose::STANDARD.encode(&raw);
        assert_eq!(open(&k1, &tampered, b""), Err(OpenError::Authentication));
    }

    #[test]
    fn short_and_garbage_values_are_rejected() {
        let k = key(K1);
        assert_eq!(open(&k, "", b""), Err(OpenError::TooShort));
        assert_eq!(
            open(&k, "not base64 at all!", b""),
            Err(OpenError::TooShort)
        );
        assert_eq!(open(&k, &"A".repeat(42), b""), Err(OpenError::TooShort));
        assert_eq!(
            open(&k, &"A".repeat(44), b""),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn plaintext_bytes_that_are_not_utf8_are_carried_over() {
        let k = key(K1);
        let sealed = seal(&k, &[0xff, 0xfe, 0x00], b"");
        assert_eq!(&open(&k, &sealed, b"").unwrap()[..], &[0xff, 0xfe, 0x00]);
    }

    /// Sealed by Node: the backend's `encrypt('{"clientSecret":"s3cr3t"}', K1,
    /// 'idp_client_secret:idp1:org1')` with IV bytes 0..16.
    const NODE_AAD_VECTOR: &str =
        "AAECAwQFBgcICQoLDA0OD6O7xMSCMPrlico7oBJNPnXbT6sLqjTKxrtJlK1E8Mf0HB3sy8SeX9LE";
    const AAD: &[u8] = b"idp_client_secret:idp1:org1";

    #[test]
    fn aad_is_bound_exactly_as_node_binds_it() {
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let pt = br#"{"clientSecret":"s3cr3t"}"#;
        assert_eq!(seal_with_iv(&key(K1), pt, AAD, &iv), NODE_AAD_VECTOR);
        assert_eq!(&open(&key(K1), NODE_AAD_VECTOR, AAD).unwrap()[..], pt);
        // Another row's AAD, or none, fails exactly like a wrong key.
        for wrong in [&b"idp_client_secret:idp2:org1"[..], b""] {
            assert_eq!(
                open(&key(K1), NODE_AAD_VECTOR, wrong),
                Err(OpenError::Authentication)
            );
        }
        assert_eq!(
            open(&key(K1), NODE_VECTOR, AAD),
            Err(OpenError::Authentication)
        );
    }

    #[test]
    fn decodes_as_leniently_as_node() {
        let k = key(K1);
        let url_safe = NODE_VECTOR.replace('+', "-").replace('/', "_");
        let unpadded = NODE_VECTOR.trim_end_matches('=');
        let spaced: String = NODE_VECTOR
            .chars()
            .enumerate()
            .flat_map(|(i, c)| if i % 10 == 9 { vec![c, '\n'] } else { vec![c] })
            .collect();
        for v in [url_safe.as_str(), unpadded, spaced.as_str()] {
            assert!(open(&k, v, b"").is_ok(), "{v}");
        }
        // Node stops at the first '=' and ignores what follows.
        assert_eq!(decode_lenient("QQ==QUJD"), b"A");
        assert_eq!(decode_lenient("QUJD"), b"ABC");
        assert_eq!(decode_lenient("QUI"), b"AB");
        assert_eq!(decode_lenient("Q"), b"");
        assert_eq!(decode_lenient("Q U\tJ*D"), b"ABC");
    }
}
