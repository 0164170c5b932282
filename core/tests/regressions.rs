//! Regression tests for hostile input: inputs the fuzzers (`fuzz/`, run with
//! `bash scripts/fuzz.sh`) and the hostile-input tests
//! (`__test__/hostile.test.mjs`) exercise, pinned here so `cargo test` keeps
//! them without a nightly toolchain or a database. A crash a fuzzer finds is
//! added here, as the smallest input that reproduces it, next to its fix.
//!
//! So far the fuzzers have found no crash (see docs/faults.md for the runs);
//! what is pinned is behaviour verified against Node and the properties the
//! fuzz targets assert, made exhaustive where the input space is small.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keyrotate_core::connection::ConnectionTarget;
use keyrotate_core::envelope::{decode_lenient, open, seal, OpenError, IV_LEN, TAG_LEN};
use keyrotate_core::key::{Key, KeyPair, KeyPolicy};
use keyrotate_core::KeyRole;

const K1: &str = "Zr8qP1vX4mN7bC2kL9sD3fG6hJ0wE5tY";
const K2: &str = "aQ3wS5eD7rF9tG1yH3uJ5iK7oL9pZ1xC";

fn key(text: &str) -> Key {
    Key::parse(KeyRole::Old, text.as_bytes(), KeyPolicy::default())
        .unwrap()
        .0
}

/// `Buffer.from(s, 'base64').toString('hex')` as printed by Node 20 for each
/// input (run by hand; the backend decodes stored values this way).
#[test]
fn decoder_matches_node_on_padding_and_junk() {
    let node: &[(&str, &str)] = &[
        ("QQ==QUJD", "41"),
        ("QUJD", "414243"),
        ("QUI", "4142"),
        ("Q", ""),
        ("Q U\tJ*D", "414243"),
        ("QQ=QUJD", "41"),
        ("QUJD=QUJD", "414243"),
        ("=QUJD", ""),
        ("QU=JD", "41"),
        ("Q=UJD", ""),
        ("QUJ=D", "4142"),
        ("QUJDQ", "414243"),
        ("QUJDQQ", "41424341"),
        ("QUJDQQ===QUJD", "41424341"),
        ("Q\u{e9}UJD", "414243"),
        ("QU\u{0}JD", "414243"),
        ("-_-_", "fbffbf"),
        ("+/+/", "fbffbf"),
        ("QUJD\u{2028}", "414243"),
    ];
    for (input, hex) in node {
        let got: String = decode_lenient(input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(&got, hex, "{input:?}");
    }
}

/// fuzz/envelope_open, part 3, made exhaustive: flipping any one bit of a
/// sealed value (IV, ciphertext or tag) is caught by the tag.
#[test]
fn every_single_bit_flip_is_refused() {
    let k = key(K1);
    let sealed = seal(&k, br#"{"token":"abc"}"#, b"");
    let raw = decode_lenient(&sealed);
    for bit in 0..raw.len() * 8 {
        let mut flipped = raw.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert_eq!(
            open(&k, &STANDARD.encode(&flipped), b""),
            Err(OpenError::Authentication),
            "bit {bit}"
        );
    }
}

/// fuzz/envelope_open, part 2: bytes that are not an envelope never open,
/// and the boundary between "too short" and "does not verify" is exactly
/// an IV plus a tag.
#[test]
fn lengths_around_iv_plus_tag() {
    let k = key(K1);
    for len in 0..=IV_LEN + TAG_LEN + 2 {
        let raw = vec![0x5au8; len];
        let expected = if len < IV_LEN + TAG_LEN {
            OpenError::TooShort
        } else {
            OpenError::Authentication
        };
        assert_eq!(
            open(&k, &STANDARD.encode(&raw), b""),
            Err(expected),
            "{len} bytes"
        );
    }
    // Text that decodes to nothing at all.
    for junk in [
        "",
        "   ",
        "!!!! ???? ****",
        "null",
        "====",
        "\u{1F600}\u{1F600}",
    ] {
        assert_eq!(open(&k, junk, b""), Err(OpenError::TooShort), "{junk:?}");
    }
}

/// A value sealed under one key never opens under another, and re-sealing
/// never reuses an IV (two seals of the same plaintext differ in the IV).
#[test]
fn unrelated_key_and_fresh_ivs() {
    let (k1, k2) = (key(K1), key(K2));
    let a = seal(&k1, b"same", b"");
    let b = seal(&k1, b"same", b"");
    assert_eq!(open(&k2, &a, b""), Err(OpenError::Authentication));
    assert_ne!(decode_lenient(&a)[..IV_LEN], decode_lenient(&b)[..IV_LEN]);
}

/// hostile.test.mjs, "multi-byte characters on the 32-byte boundary": keys
/// that differ as strings within their first 32 characters but not in their
/// first 32 UTF-8 bytes are the same AES key, exactly as in Node.
#[test]
fn keys_equal_in_their_first_32_bytes_are_unchanged() {
    let head = "x".repeat(31);
    let euro = format!("{head}\u{20AC}tail-one"); // E2 82 AC
    let lira = format!("{head}\u{20A4}tail-two"); // E2 82 A4
    let err = KeyPair::parse(euro.as_bytes(), lira.as_bytes(), KeyPolicy::default()).unwrap_err();
    assert_eq!(err.code(), "ERR_KEY_UNCHANGED");
    // What N-API hands over for a JS string with a lone surrogate: U+FFFD,
    // as Node's Buffer.from does; byte 32 cuts it in half.
    let surrogate = format!("{}\u{FFFD}{}", "y".repeat(30), "z".repeat(9));
    let (k, _) = Key::parse(KeyRole::New, surrogate.as_bytes(), KeyPolicy::default()).unwrap();
    let (k2, _) = Key::parse(
        KeyRole::New,
        format!("{}\u{FFFD}other", "y".repeat(30)).as_bytes(),
        KeyPolicy::default(),
    )
    .unwrap();
    assert!(k.same_effective_key(&k2));
}

/// hostile.test.mjs, "whitespace, NUL, invalid UTF-8, short".
#[test]
fn keys_refused_before_any_connection() {
    let good = K1.to_owned() + "-and-more";
    let mut invalid_utf8 = good.as_bytes()[..31].to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    for material in [
        format!(" {good}").into_bytes(),
        format!("{good}\n").into_bytes(),
        format!("{good}\r\n").into_bytes(),
        format!("{good}\u{a0}").into_bytes(),
        format!("{}\0{}", &good[..10], &good[10..]).into_bytes(),
        "\u{20AC}".repeat(31).into_bytes(), // 93 bytes, but JS length 31
        invalid_utf8,
        Vec::new(),
    ] {
        let err = Key::parse(KeyRole::Old, &material, KeyPolicy::default()).unwrap_err();
        assert_eq!(err.code(), "ERR_KEY_INVALID", "{material:?}");
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(&good[..16]), "{shown}");
    }
}

const SECRET: &str = "Pw7xQsecretZk";

fn shown(url: &str) -> String {
    match ConnectionTarget::parse(url) {
        Ok(t) => format!(
            "{t:?} {} {} {} {}",
            t.describe(),
            t.host(),
            t.database(),
            t.notices().join(" ")
        ),
        Err(e) => format!("{e} {e:?}"),
    }
}

/// fuzz/connection_parse's property on the URL shapes hostile.test.mjs uses
/// against a real server: refused or accepted, the password never shows.
#[test]
fn odd_urls_never_show_the_password() {
    let cases = [
        ("postgresql://u:{S}@h:99999/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}@h:0/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}@h:-1/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}@h:54x32/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}@[::1:5432/db", Some("ERR_INVALID_ARG")),
        (
            "postgresql://u:{S}@[127.0.0.1]:5432/db",
            Some("ERR_INVALID_ARG"),
        ),
        ("postgresql://u:{S}@[::1]x:5432/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}@::1]:5432/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}@h:1,h2:2/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}/x@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}?x@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}#x@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}%zz@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}%00@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}%4@h/db", Some("ERR_INVALID_ARG")),
        (
            "postgresql://u@h/db?password={S}%zz",
            Some("ERR_INVALID_ARG"),
        ),
        ("postgresql:/u:{S}@h/db", Some("ERR_INVALID_ARG")),
        ("mysql://u:{S}@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}", None),
        ("postgresql://u:{S}@", None),
        ("postgresql://u:{S}@[", Some("ERR_INVALID_ARG")),
        ("postgresql://u:{S}@h:p@ss/db", None),
        ("postgresql://u:a:b@c:d@{S}@h:5432/db", None),
        // Found while writing this file: a password with an unencoded '?',
        // '#' or '/' whose head parses as a port (or with an '@' before it)
        // spilled its tail into the query, fragment or database name, and
        // from there into errors, notices and describe(). Now refused.
        ("postgresql://u:8080?{S}=1@h/db", Some("ERR_INVALID_ARG")),
        (
            "postgresql://u:8080?sslmode={S}@h/db",
            Some("ERR_INVALID_ARG"),
        ),
        ("postgresql://u:8080?port={S}@h/db", Some("ERR_INVALID_ARG")),
        (
            "postgresql://u:8080?connect_timeout={S}@h/db",
            Some("ERR_INVALID_ARG"),
        ),
        (
            "postgresql://u:8080?schema={S}@h/db",
            Some("ERR_INVALID_ARG"),
        ),
        ("postgresql://u:p@12?{S}=y@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:12#{S}@h/db", Some("ERR_INVALID_ARG")),
        ("postgresql://u:x@y/{S}@h/db", Some("ERR_INVALID_ARG")),
        (
            "postgresql://u:x@y:5432/{S}@h:5432/db",
            Some("ERR_INVALID_ARG"),
        ),
    ];
    for (template, code) in cases {
        let url = template.replace("{S}", SECRET);
        let out = shown(&url);
        // In every template the secret is (part of) the password the
        // operator meant, however the URL's structure reads it.
        assert!(!out.contains(SECRET), "{template}: {out}");
        if let Some(code) = code {
            let err = ConnectionTarget::parse(&url).unwrap_err();
            assert_eq!(err.code(), code, "{template}: {err}");
        }
    }
    // A literal '@' after the host is still possible, percent-encoded.
    let t = ConnectionTarget::parse("postgresql://u:pw@h/db?application_name=me%40host").unwrap();
    assert_eq!(t.describe(), "h:5432/db");
}

/// The percent-encoded password hostile.test.mjs logs in with decodes to
/// exactly itself, and an unencoded '@' is part of the password (WHATWG:
/// the user info ends at the last '@').
#[test]
fn percent_encoded_and_bare_at_passwords() {
    for url in [
        "postgresql://kr_odd:Kq7Zhx%40Lm3Pnr%3ATs8Wvy%2FBd4Fgj%3FNc6Rkp%23Xz2Mqw%25Jh5Vtb%26%3D%2B%20%C3%A9@127.0.0.1:5432/db",
        "postgresql://kr_at:Rr4Yuw:Gg5Hjk@Pp6Lzx@127.0.0.1:5432/db",
    ] {
        let t = ConnectionTarget::parse(url).unwrap();
        assert_eq!(t.describe(), "127.0.0.1:5432/db");
        let dbg = format!("{t:?}");
        for fragment in ["Kq7Zhx", "Lm3Pnr", "Jh5Vtb", "Rr4Yuw", "Gg5Hjk", "Pp6Lzx"] {
            assert!(!dbg.contains(fragment), "{dbg}");
        }
    }
}
