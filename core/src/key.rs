//! The `ENCRYPTION_KEY` rules: which keys the backend would start with, how it
//! derives the AES key from one, and a non-secret fingerprint to tell keys
//! apart. Mirrors `common/secrets.util.ts` and `encryption.util.ts`.

use std::fmt;

use aes_gcm::aead::consts::U16;
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, KeyInit};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, KeyRole, Result};
use crate::warning::{Warning, WarningCode};

/// AES-256-GCM with the backend's 16-byte IV.
pub(crate) type Cipher = AesGcm<Aes256, U16>;

/// The backend uses the first 32 bytes of the key's UTF-8 encoding.
pub const EFFECTIVE_KEY_LEN: usize = 32;

/// The backend's startup check counts JS string length (UTF-16 code units).
/// UTF-8 is never shorter than UTF-16, so this also guarantees 32 bytes.
pub const MIN_KEY_CHARS: usize = 32;

const PLACEHOLDERS_EXACT: &[&str] = &[
    "default-dev-secret-change-me",
    "default-dev-key-change-in-prod!!",
    "dev-secret-change-me-at-least-32chars!!",
    "change-me-in-production-min-32-chars",
    "change-me-in-production-exactly-32",
];

const PLACEHOLDER_FRAGMENTS: &[&str] = &[
    "change-me",
    "changeme",
    "default-dev",
    "placeholder",
    "your-secret",
    "your-encryption-key",
];

/// Domain separation so a fingerprint can never be mistaken for, or used as,
/// any other hash of the key.
const FINGERPRINT_CONTEXT: &[u8] = b"keyrotate/fingerprint/v1\0";

/// Characters that are not `char::is_whitespace` yet show nothing when an
/// operator pastes or prints a key: the Unicode Default_Ignorable_Code_Point
/// property (byte-order mark U+FEFF, zero-width U+200B..U+200D, word joiner
/// U+2060, bidi controls, variation selectors, Hangul fillers, tags, soft
/// hyphen) and the format characters of general category Cf, as of Unicode
/// 17. `__test__/hostile.test.mjs` checks the table against Node's ICU.
const INVISIBLE: &[(u32, u32)] = &[
    (0xAD, 0xAD),
    (0x34F, 0x34F),
    (0x600, 0x605),
    (0x61C, 0x61C),
    (0x6DD, 0x6DD),
    (0x70F, 0x70F),
    (0x890, 0x891),
    (0x8E2, 0x8E2),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x200B, 0x200F),
    (0x202A, 0x202E),
    (0x2060, 0x206F),
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0),
    (0xFFF0, 0xFFFB),
    (0x110BD, 0x110BD),
    (0x110CD, 0x110CD),
    (0x13430, 0x1343F),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
];

/// Whether `c` at the edge of a key is something the operator cannot see:
/// Unicode whitespace (which includes the no-break spaces U+00A0, U+202F and
/// the line separators), control characters, the table above, and U+2800
/// BRAILLE PATTERN BLANK, which renders as a space.
fn is_invisible(c: char) -> bool {
    let c32 = u32::from(c);
    c.is_whitespace()
        || c.is_control()
        || c == '\u{2800}'
        || INVISIBLE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c32))
}

/// The first invisible character at either end of `text`, and which end.
fn invisible_edge(text: &str) -> Option<(&'static str, char)> {
    let first = text.chars().next().filter(|&c| is_invisible(c));
    let last = text.chars().next_back().filter(|&c| is_invisible(c));
    first.map(|c| ("starts", c)).or(last.map(|c| ("ends", c)))
}

/// How strictly a key is checked.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeyPolicy {
    /// Accept leading/trailing whitespace and invisible characters
    /// ([`is_invisible`]). Off by default because a stray newline from `echo`
    /// or a file, or a byte-order mark from an editor, is the commonest way to
    /// end up with a key the backend never used.
    pub allow_whitespace: bool,
}

/// An `ENCRYPTION_KEY`, reduced to the 32 bytes the backend actually uses.
/// The raw key is wiped as soon as it is derived; the AES key schedule lives
/// in the cipher, which zeroizes itself on drop.
pub struct Key {
    role: KeyRole,
    effective: Zeroizing<[u8; EFFECTIVE_KEY_LEN]>,
    cipher: Cipher,
    fingerprint: String,
}

impl Key {
    /// Check `material` against the backend's rules and derive the AES key.
    /// Returns warnings that should be shown but do not stop the run.
    pub fn parse(role: KeyRole, material: &[u8], policy: KeyPolicy) -> Result<(Key, Vec<Warning>)> {
        let invalid = |reason: &str| Error::KeyInvalid {
            role,
            reason: reason.to_owned(),
        };
        if material.is_empty() {
            return Err(invalid("it is missing or empty"));
        }
        let text = std::str::from_utf8(material).map_err(|_| {
            invalid("it is not valid UTF-8 text, so no ENCRYPTION_KEY can produce it")
        })?;
        if text.contains('\0') {
            return Err(invalid(
                "it contains a NUL character, which an environment variable cannot hold",
            ));
        }
        let chars = text.encode_utf16().count();
        if chars < MIN_KEY_CHARS {
            return Err(Error::KeyInvalid {
                role,
                reason: format!(
                    "it is {chars} characters long; the backend requires at least {MIN_KEY_CHARS}"
                ),
            });
        }
        if !policy.allow_whitespace {
            if let Some((edge, c)) = invisible_edge(text) {
                return Err(Error::KeyInvalid {
                    role,
                    reason: format!(
                        "it {edge} with U+{:04X}, which is whitespace or an invisible character (often a stray newline, or a byte-order mark or zero-width space from an editor or a copy); remove it, or allow whitespace explicitly if the backend really uses it",
                        u32::from(c)
                    ),
                });
            }
        }

        let mut warnings = Vec::new();
        if is_placeholder(text) {
            match role {
                KeyRole::New => {
                    return Err(invalid(
                        "it looks like a placeholder (like the shipped default); the backend refuses to start with it. Generate one with `openssl rand -base64 48`",
                    ))
                }
                KeyRole::Old | KeyRole::Verify => warnings.push(Warning {
                    code: WarningCode::KeyPlaceholder,
                    message: format!(
                        "the {role} looks like a placeholder; rotating off it is the right move"
                    ),
                }),
            }
        }

        let mut effective = Zeroizing::new([0u8; EFFECTIVE_KEY_LEN]);
        effective.copy_from_slice(&material[..EFFECTIVE_KEY_LEN]);
        Ok((Key::from_effective(role, effective), warnings))
    }

    fn from_effective(role: KeyRole, effective: Zeroizing<[u8; EFFECTIVE_KEY_LEN]>) -> Key {
        let cipher = Cipher::new(effective.as_ref().into());
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_CONTEXT)
            .chain_update(effective.as_ref())
            .finalize();
        let fingerprint = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Key {
            role,
            effective,
            cipher,
            fingerprint,
        }
    }

    /// A short, non-secret identifier: 48 bits of a domain-separated SHA-256
    /// of the effective key. Equal fingerprints mean the backend would treat
    /// the keys as the same.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub(crate) fn cipher(&self) -> &Cipher {
        &self.cipher
    }

    /// Whether the backend would derive the same AES key from both.
    pub fn same_effective_key(&self, other: &Key) -> bool {
        // Not secret-dependent timing that matters: both keys are the caller's own.
        self.effective[..] == other.effective[..]
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("role", &self.role)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// The backend's placeholder test: an exact shipped default, or a telltale
/// fragment anywhere, case-insensitively.
pub fn is_placeholder(key: &str) -> bool {
    if PLACEHOLDERS_EXACT.contains(&key) {
        return true;
    }
    let lower = Zeroizing::new(key.to_lowercase());
    PLACEHOLDER_FRAGMENTS.iter().any(|f| lower.contains(f))
}

/// A fresh key the backend accepts: 48 random bytes in base64 (64
/// characters), what `openssl rand -base64 48` prints.
pub fn generate() -> Zeroizing<String> {
    use aes_gcm::aead::rand_core::RngCore;
    use base64::Engine as _;
    loop {
        let mut bytes = Zeroizing::new([0u8; 48]);
        aes_gcm::aead::OsRng.fill_bytes(bytes.as_mut());
        let key = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()));
        // Base64 cannot spell most placeholder fragments, but it can spell
        // "changeme"; the backend would refuse that key.
        if !is_placeholder(&key) {
            return key;
        }
    }
}

/// Old and new keys, validated together: both valid, and actually different.
#[derive(Debug)]
pub struct KeyPair {
    pub old: Key,
    pub new: Key,
    pub warnings: Vec<Warning>,
}

impl KeyPair {
    pub fn parse(old: &[u8], new: &[u8], policy: KeyPolicy) -> Result<KeyPair> {
        let (old, mut warnings) = Key::parse(KeyRole::Old, old, policy)?;
        let (new, new_warnings) = Key::parse(KeyRole::New, new, policy)?;
        warnings.extend(new_warnings);
        if old.same_effective_key(&new) {
            return Err(Error::KeyUnchanged);
        }
        Ok(KeyPair { old, new, warnings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "Zr8qP1vX4mN7bC2kL9sD3fG6hJ0wE5tY";
    const GOOD2: &str = "aQ3wS5eD7rF9tG1yH3uJ5iK7oL9pZ1xC";

    fn parse(role: KeyRole, k: &str) -> Result<(Key, Vec<Warning>)> {
        Key::parse(role, k.as_bytes(), KeyPolicy::default())
    }

    fn code(r: Result<(Key, Vec<Warning>)>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn accepts_32_chars_and_derives_first_32_bytes() {
        let (k, w) = parse(KeyRole::Old, GOOD).unwrap();
        assert!(w.is_empty());
        assert_eq!(&k.effective[..], GOOD.as_bytes());
    }

    #[test]
    fn openssl_style_64_char_key_uses_first_32_bytes() {
        let long = "q8Zk2v9XhP4mT1nB6cR3yW0sL5dF7gJ2aE8uI4oK1pM3zN6xV9bQ0wS2eD5rT7yU";
        let (k, _) = parse(KeyRole::New, long).unwrap();
        let (k32, _) = parse(KeyRole::New, &long[..32]).unwrap();
        assert!(k.same_effective_key(&k32));
        assert_eq!(k.fingerprint(), k32.fingerprint());
    }

    #[test]
    fn refuses_missing_short_nul_and_non_utf8() {
        assert_eq!(code(parse(KeyRole::Old, "")), "ERR_KEY_INVALID");
        assert_eq!(code(parse(KeyRole::Old, &GOOD[..31])), "ERR_KEY_INVALID");
        let with_nul = format!("{}\0{}", &GOOD[..16], &GOOD[16..]);
        assert_eq!(code(parse(KeyRole::Old, &with_nul)), "ERR_KEY_INVALID");
        let mut bytes = GOOD.as_bytes().to_vec();
        bytes[3] = 0xff;
        let r = Key::parse(KeyRole::Old, &bytes, KeyPolicy::default());
        assert_eq!(r.unwrap_err().code(), "ERR_KEY_INVALID");
    }

    #[test]
    fn length_counts_js_characters_not_bytes() {
        // 16 two-unit emoji: 32 UTF-16 units (JS length 32), 64 UTF-8 bytes.
        let emoji = "\u{1F511}".repeat(16);
        assert_eq!(code(parse(KeyRole::Old, &emoji)), "ok");
        // 31 three-byte characters: 93 bytes but JS length 31, which the backend refuses.
        let cjk = "\u{9375}".repeat(31);
        assert_eq!(code(parse(KeyRole::Old, &cjk)), "ERR_KEY_INVALID");
    }

    #[test]
    fn multibyte_character_split_at_byte_32_is_cut_like_node() {
        // 31 ASCII then a 3-byte character: byte 32 is the character's first byte.
        let key = format!("{}\u{20AC}x", &GOOD[..31]);
        let (k, _) = parse(KeyRole::New, &key).unwrap();
        assert_eq!(&k.effective[..31], &GOOD.as_bytes()[..31]);
        assert_eq!(k.effective[31], 0xE2);
    }

    #[test]
    fn whitespace_refused_unless_allowed() {
        let padded = format!("{GOOD}\n");
        assert_eq!(code(parse(KeyRole::Old, &padded)), "ERR_KEY_INVALID");
        let lead = format!(" {GOOD}");
        assert_eq!(code(parse(KeyRole::New, &lead)), "ERR_KEY_INVALID");
        let policy = KeyPolicy {
            allow_whitespace: true,
        };
        assert!(Key::parse(KeyRole::Old, padded.as_bytes(), policy).is_ok());
    }

    #[test]
    fn invisible_characters_at_either_edge_count_as_whitespace() {
        let allowed = KeyPolicy {
            allow_whitespace: true,
        };
        let invisible = [
            '\u{FEFF}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{00A0}',
            '\u{202F}',
            '\u{3000}',
            '\u{2028}',
            '\u{00AD}',
            '\u{200E}',
            '\u{202E}',
            '\u{2066}',
            '\u{FE0F}',
            '\u{3164}',
            '\u{2800}',
            '\u{180E}',
            '\u{0085}',
            '\u{001B}',
            '\u{007F}',
            '\u{E0020}',
        ];
        for c in invisible {
            for (edge, key) in [
                ("starts", format!("{c}{GOOD}")),
                ("ends", format!("{GOOD}{c}")),
            ] {
                let e = parse(KeyRole::New, &key).unwrap_err();
                assert_eq!(e.code(), "ERR_KEY_INVALID", "U+{:04X}", u32::from(c));
                let message = e.to_string();
                assert!(
                    message.contains(&format!("{edge} with U+{:04X}", u32::from(c))),
                    "{message}"
                );
                assert!(message.contains("whitespace"), "{message}");
                assert!(
                    !message.contains(GOOD) && !message.contains(&key),
                    "{message}"
                );
                assert!(Key::parse(KeyRole::New, key.as_bytes(), allowed).is_ok());
            }
        }
    }

    #[test]
    fn visible_and_inner_characters_are_the_key_s_own() {
        for c in [
            '\u{00E9}',
            '\u{20AC}',
            '\u{1F511}',
            '-',
            '=',
            '\u{0301}',
            '\u{FFFD}',
        ] {
            assert_eq!(
                code(parse(KeyRole::New, &format!("{c}{GOOD}"))),
                "ok",
                "U+{:04X}",
                u32::from(c)
            );
            assert_eq!(
                code(parse(KeyRole::New, &format!("{GOOD}{c}"))),
                "ok",
                "U+{:04X}",
                u32::from(c)
            );
        }
        // Inside the key, an invisible character is part of what the backend uses.
        let inner = format!("{}\u{200B}{}", &GOOD[..16], &GOOD[16..]);
        assert_eq!(code(parse(KeyRole::New, &inner)), "ok");
    }

    #[test]
    fn placeholder_new_key_refused_old_key_warned() {
        for p in PLACEHOLDERS_EXACT.iter().filter(|p| p.len() >= 32) {
            assert_eq!(code(parse(KeyRole::New, p)), "ERR_KEY_INVALID", "{p}");
            let (_, w) = parse(KeyRole::Old, p).unwrap();
            assert_eq!(w[0].code, "WARN_KEY_PLACEHOLDER");
        }
        let sneaky = "my-Production-ChangeMe-key-0123456789";
        assert_eq!(code(parse(KeyRole::New, sneaky)), "ERR_KEY_INVALID");
        assert!(is_placeholder("xxYOUR-ENCRYPTION-KEYxx"));
        assert!(!is_placeholder(GOOD));
    }

    #[test]
    fn pair_refuses_same_effective_key() {
        let a = format!("{GOOD}AAAA");
        let b = format!("{GOOD}BBBB");
        let e = KeyPair::parse(a.as_bytes(), b.as_bytes(), KeyPolicy::default()).unwrap_err();
        assert_eq!(e.code(), "ERR_KEY_UNCHANGED");
        assert!(KeyPair::parse(GOOD.as_bytes(), GOOD2.as_bytes(), KeyPolicy::default()).is_ok());
    }

    #[test]
    fn debug_and_errors_never_show_the_key() {
        let (k, _) = parse(KeyRole::Old, GOOD).unwrap();
        let dbg = format!("{k:?}");
        assert!(!dbg.contains(GOOD) && !dbg.contains(&GOOD[..8]), "{dbg}");
        let short = &GOOD[..20];
        let e = parse(KeyRole::Old, short).unwrap_err().to_string();
        assert!(!e.contains(short), "{e}");
    }

    #[test]
    fn generated_keys_are_accepted_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), 64);
        assert_ne!(*a, *b);
        assert!(KeyPair::parse(a.as_bytes(), b.as_bytes(), KeyPolicy::default()).is_ok());
    }

    #[test]
    fn fingerprints_differ_per_key_and_are_short() {
        let (a, _) = parse(KeyRole::Old, GOOD).unwrap();
        let (b, _) = parse(KeyRole::New, GOOD2).unwrap();
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 12);
    }
}
