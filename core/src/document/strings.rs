//! Every string in a JSON document, read as leniently as Node's
//! `JSON.parse` reads it, for discovery: a search must not be blinded by
//! what a strict parser refuses but the backend accepts — a lone surrogate
//! escape (`JSON.stringify` writes one for a string cut inside an emoji), a
//! number beyond any float, or text that is not quite JSON at all. Nothing
//! here is ever written back.

use std::borrow::Cow;

/// A string value found in a document, as the walk passes it.
pub struct Found<'s, 'a> {
    stack: &'s [Frame],
    pub value: Cow<'a, str>,
}

impl Found<'_, '_> {
    /// Whether it is a direct member of the top-level object: the only
    /// place a registered member can be.
    pub fn top_member(&self) -> bool {
        matches!(self.stack, [Frame::Object { .. }])
    }

    /// Where it is: `name`, `a.b`, `list[2]`, `[0].$enc`; empty for a
    /// document that is itself a string. Built on request, because a deep
    /// document would make building it for every string quadratic.
    pub fn path(&self) -> String {
        let mut path = String::new();
        for frame in self.stack {
            match frame {
                Frame::Object { key, .. } => {
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(key.as_deref().unwrap_or_default());
                }
                Frame::Array { index } => path.push_str(&format!("[{index}]")),
            }
        }
        path
    }
}

enum Frame {
    Object { key: Option<String>, want_key: bool },
    Array { index: usize },
}

/// Call `visit` with every string value (not member names) in `doc`, in
/// document order. Never fails: where the text stops being JSON, the rest
/// is read as well as it can be.
pub fn strings<'a>(doc: &'a str, mut visit: impl FnMut(Found<'_, 'a>)) {
    let bytes = doc.as_bytes();
    let mut stack: Vec<Frame> = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                let (end, closed) = token_end(bytes, at);
                let value = unescape(&doc[at + 1..if closed { end - 1 } else { end }]);
                match stack.last_mut() {
                    Some(Frame::Object { key, want_key }) if *want_key => {
                        *key = Some(value.into_owned());
                        *want_key = false;
                    }
                    _ => visit(Found {
                        stack: &stack,
                        value,
                    }),
                }
                at = end;
                continue;
            }
            b'{' => stack.push(Frame::Object {
                key: None,
                want_key: true,
            }),
            b'[' => stack.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => match stack.last_mut() {
                Some(Frame::Object { key, want_key }) => {
                    *key = None;
                    *want_key = true;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
        at += 1;
    }
}

/// The offset just past the string token starting at `at`, and whether a
/// closing quote ends it (if not, it runs to the end of the text).
fn token_end(bytes: &[u8], at: usize) -> (usize, bool) {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return (i + 1, true),
            _ => i += 1,
        }
    }
    (bytes.len(), false)
}

/// The text of a JSON string's inside, its escapes decoded as `JSON.parse`
/// decodes them, except that a surrogate escape without its pair (which a
/// Rust string cannot hold) becomes U+FFFD; an invalid escape is kept as
/// written.
pub fn unescape(inner: &str) -> Cow<'_, str> {
    if !inner.contains('\\') {
        return Cow::Borrowed(inner);
    }
    let mut out = String::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let (decoded, used) = escape(rest);
        match decoded {
            Some(c) => out.push(c),
            None => out.push_str(&rest[..used]),
        }
        rest = &rest[used..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// One escape at the start of `s` (which starts with a backslash): the
/// character it stands for (`None`: not a valid escape) and its length.
fn escape(s: &str) -> (Option<char>, usize) {
    let Some(c) = s[1..].chars().next() else {
        return (None, 1);
    };
    let simple = match c {
        '"' => Some('"'),
        '\\' => Some('\\'),
        '/' => Some('/'),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        _ => None,
    };
    if let Some(c) = simple {
        return (Some(c), 2);
    }
    if c != 'u' {
        return (None, 1 + c.len_utf8());
    }
    let Some(unit) = hex4(&s[2..]) else {
        return (None, 2);
    };
    match unit {
        0xD800..=0xDBFF => {
            let low = s[6..].strip_prefix("\\u").and_then(hex4);
            match low {
                Some(low @ 0xDC00..=0xDFFF) => {
                    let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                    (char::from_u32(code), 12)
                }
                _ => (Some('\u{FFFD}'), 6),
            }
        }
        0xDC00..=0xDFFF => (Some('\u{FFFD}'), 6),
        _ => (char::from_u32(unit), 6),
    }
}

fn hex4(s: &str) -> Option<u32> {
    let digits = s.get(..4)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(doc: &str) -> Vec<(String, bool, String)> {
        let mut out = Vec::new();
        strings(doc, |f| {
            out.push((f.path(), f.top_member(), f.value.into_owned()))
        });
        out
    }

    fn item(path: &str, top: bool, value: &str) -> (String, bool, String) {
        (path.to_owned(), top, value.to_owned())
    }

    #[test]
    fn every_string_value_with_its_path() {
        let doc = r#"{"a": "1", "n": {"b": "2", "c": [3, "4", {"d": "5"}]}, "e": true, "f": "6"}"#;
        assert_eq!(
            found(doc),
            [
                item("a", true, "1"),
                item("n.b", false, "2"),
                item("n.c[1]", false, "4"),
                item("n.c[2].d", false, "5"),
                item("f", true, "6"),
            ]
        );
        assert_eq!(
            found(r#"[{"$enc": "x"}, "y"]"#),
            [item("[0].$enc", false, "x"), item("[1]", false, "y")]
        );
        assert_eq!(found(r#""whole""#), [item("", false, "whole")]);
    }

    #[test]
    fn what_a_strict_parser_refuses_is_still_searched() {
        let doc = r#"{"note": "cut\ud83d", "big": 1e400, "huge": 1000000000000000000000000000000000000000000000, "tokenEnc": "c2Vh\/bGVk"}"#;
        assert!(serde_json::from_str::<serde_json::Value>(doc).is_err());
        assert_eq!(
            found(doc),
            [
                item("note", true, "cut\u{FFFD}"),
                item("tokenEnc", true, "c2Vh/bGVk")
            ]
        );
        // Text that stops being JSON keeps what came before.
        assert_eq!(
            found(r#"{"a": "1", "b": "unterminated"#)[0],
            item("a", true, "1")
        );
        assert_eq!(found(r#"{"a": "1", "b": "unterminated"#).len(), 2);
    }

    #[test]
    fn escapes_decode_as_json_parse_decodes_them() {
        assert_eq!(unescape(r#"plain"#), "plain");
        assert_eq!(unescape(r#"a\"b\\c\/d\n\t"#), "a\"b\\c/d\n\t");
        assert_eq!(unescape(r#"\u0041\u00e9\ud83d\ude00"#), "Aé😀");
        assert_eq!(unescape(r#"\udc00x\ud800"#), "\u{FFFD}x\u{FFFD}");
        assert_eq!(unescape(r#"\ud800\u0041"#), "\u{FFFD}A");
        assert_eq!(unescape(r#"\q\u12"#), "\\q\\u12");
        assert_eq!(unescape("end\\"), "end\\");
    }
}
