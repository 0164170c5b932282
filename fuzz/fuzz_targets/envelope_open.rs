//! Opening stored values: never a panic, never a forgery, and a value opens
//! only to plaintext that re-seals and re-opens identically.
//!
//! The input is used three ways: as the stored text itself; as the raw bytes
//! of an envelope (so GCM sees every length, not just what base64 text
//! decodes to); and as a plaintext that is sealed (with and without AAD),
//! opened, opened under another AAD, and opened again with one bit flipped
//! (which must fail authentication).
#![no_main]

use std::sync::LazyLock;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyrotate_core::envelope::{decode_lenient, open, seal, OpenError, IV_LEN, TAG_LEN};
use keyrotate_core::key::{Key, KeyPolicy};
use keyrotate_core::KeyRole;
use libfuzzer_sys::fuzz_target;

static KEY: LazyLock<Key> = LazyLock::new(|| key("Zr8qP1vX4mN7bC2kL9sD3fG6hJ0wE5tY"));
const AAD: &[u8] = b"idp_client_secret:a:org";
static OTHER: LazyLock<Key> = LazyLock::new(|| key("aQ3wS5eD7rF9tG1yH3uJ5iK7oL9pZ1xC"));

fn key(text: &str) -> Key {
    Key::parse(KeyRole::Old, text.as_bytes(), KeyPolicy::default())
        .expect("a valid key")
        .0
}

fuzz_target!(|data: &[u8]| {
    // 1. The input as a stored value.
    if let Ok(text) = std::str::from_utf8(data) {
        let raw_len = decode_lenient(text).len();
        match open(&KEY, text, b"") {
            Ok(plaintext) => {
                let resealed = seal(&KEY, &plaintext, b"");
                assert_eq!(
                    &open(&KEY, &resealed, b"").expect("re-opens")[..],
                    &plaintext[..]
                );
            }
            Err(OpenError::TooShort) => assert!(raw_len < IV_LEN + TAG_LEN),
            Err(_) => assert!(raw_len >= IV_LEN + TAG_LEN),
        }
    }

    // 2. The input as the raw bytes of an envelope: a random tag verifies
    //    with probability 2^-128, so success here is a forgery.
    let as_envelope = STANDARD.encode(data);
    match open(&KEY, &as_envelope, b"") {
        Ok(_) => panic!("random bytes opened: forged tag"),
        Err(OpenError::TooShort) => assert!(data.len() < IV_LEN + TAG_LEN),
        Err(e) => {
            assert!(data.len() >= IV_LEN + TAG_LEN);
            assert_eq!(e, OpenError::Authentication);
        }
    }

    // 3. The input as a plaintext: round trip, wrong key, one flipped bit.
    let sealed = seal(&KEY, data, b"");
    assert_eq!(&open(&KEY, &sealed, b"").expect("opens")[..], data);
    assert_eq!(
        open(&OTHER, &sealed, b"").unwrap_err(),
        OpenError::Authentication
    );
    let bound = seal(&KEY, data, AAD);
    assert_eq!(&open(&KEY, &bound, AAD).expect("opens")[..], data);
    for wrong in [&b""[..], b"idp_client_secret:b:org"] {
        assert_eq!(
            open(&KEY, &bound, wrong).unwrap_err(),
            OpenError::Authentication
        );
    }
    let mut raw = decode_lenient(&sealed);
    let bit = data.iter().fold(data.len(), |h, &b| {
        h.wrapping_mul(31).wrapping_add(b as usize)
    }) % (raw.len() * 8);
    raw[bit / 8] ^= 1 << (bit % 8);
    assert_eq!(
        open(&KEY, &STANDARD.encode(&raw), b"").unwrap_err(),
        OpenError::Authentication,
        "a flipped bit at {bit} went unnoticed"
    );
});
