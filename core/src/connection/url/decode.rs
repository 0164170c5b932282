//! Percent-decoding each part of the URL as the backend's driver decodes
//! it, only stricter where node-postgres would take a mistake literally.

use std::fmt;

use zeroize::Zeroizing;

/// How a part of the URL is decoded, as the backend's driver decodes it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Decoding {
    /// `decodeURIComponent`: user name, password, host.
    Component,
    /// `decodeURI`: the database name; escapes of `;/?:@&=+$,#` stay.
    Path,
    /// `URLSearchParams`: query names and values; `+` is a space.
    Form,
}

/// The part of the URL an error is about. Errors name it, never its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Part {
    UserName,
    Password,
    Host,
    DatabaseName,
    /// The name of a query parameter.
    ParameterName,
    /// The value of the query parameter keyrotate reads by this name.
    ParameterValue(String),
}

impl fmt::Display for Part {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Part::UserName => f.write_str("user name"),
            Part::Password => f.write_str("password"),
            Part::Host => f.write_str("host"),
            Part::DatabaseName => f.write_str("database name"),
            Part::ParameterName => f.write_str("name of a query parameter"),
            Part::ParameterValue(name) => write!(f, "value of the {name} parameter"),
        }
    }
}

/// Why a part of the URL cannot be decoded.
#[derive(Debug)]
pub(super) enum DecodeError {
    /// A '%' not followed by two hex digits: almost always an unencoded
    /// password character, which node-postgres would take literally.
    BadPercent(Part),
    /// A NUL, which PostgreSQL cannot take.
    Nul(Part),
    /// Text that is not UTF-8 once decoded.
    NotUtf8(Part),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::BadPercent(part) => write!(
                f,
                "the {part} in the database URL has a '%' not followed by two hex digits; write a literal '%' as %25"
            ),
            DecodeError::Nul(part) => write!(f, "the {part} in the database URL holds a NUL byte"),
            DecodeError::NotUtf8(part) => write!(
                f,
                "the {part} in the database URL is not UTF-8 once percent-decoded"
            ),
        }
    }
}

/// Strict percent-decoding: a '%' not followed by two hex digits is an
/// error (node-postgres would take it literally, but it is almost always an
/// unencoded password character), and so is a NUL, which PostgreSQL cannot
/// take. `part` names the component; its text is never echoed.
pub(super) fn decode(
    text: &str,
    how: Decoding,
    part: Part,
) -> Result<Zeroizing<Vec<u8>>, DecodeError> {
    let bytes = text.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(bytes.len()));
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let Some(byte) = bytes
                    .get(i + 1..i + 3)
                    .filter(|pair| pair.iter().all(u8::is_ascii_hexdigit))
                    .and_then(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
                else {
                    return Err(DecodeError::BadPercent(part));
                };
                if byte == 0 {
                    return Err(DecodeError::Nul(part));
                }
                if how == Decoding::Path && b";/?:@&=+$,#".contains(&byte) {
                    out.extend_from_slice(&bytes[i..i + 3]);
                } else {
                    out.push(byte);
                }
                i += 3;
            }
            b'+' if how == Decoding::Form => {
                out.push(b' ');
                i += 1;
            }
            byte => {
                out.push(byte);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// [`decode`], for a part that must be text.
pub(super) fn decode_text(text: &str, how: Decoding, part: Part) -> Result<String, DecodeError> {
    let bytes = decode(text, how, part.clone())?;
    String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::NotUtf8(part))
}
