//! Sealed strings that live inside JSON documents (`connectors.env_vars`'s
//! `$enc`, an alert webhook's `secretEnc`): finding the member, and putting
//! a new sealed string in its place without touching any other byte.
//!
//! Only top-level members of an object are locations. The document is
//! checked with serde_json first, so the scanner here only has to walk JSON
//! that is known to be valid; it works on byte offsets so that the rewrite
//! is a splice of the original text, never a re-serialisation.

use std::borrow::Cow;
use std::ops::Range;

use crate::error::Unopened;

mod strings;

pub use strings::{strings, Found};

/// A registered member as found in one document.
#[derive(Debug, PartialEq, Eq)]
pub enum Member<'a> {
    /// No such member, or the document is not an object (`null`, an array,
    /// a number): the row holds no ciphertext here.
    Absent,
    /// A string member: its value, and the span of its JSON string token
    /// (quotes included) in the document.
    String {
        value: Cow<'a, str>,
        span: Range<usize>,
    },
}

/// Why a document cannot be rotated. Carries nothing of the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentError {
    NotJson,
    NotAString,
    Duplicate,
}

impl From<DocumentError> for Unopened {
    fn from(e: DocumentError) -> Self {
        match e {
            DocumentError::NotJson => Unopened::NotJson,
            DocumentError::NotAString => Unopened::MemberNotAString,
            DocumentError::Duplicate => Unopened::DuplicateMember,
        }
    }
}

/// Find the top-level member `name` of the JSON document `doc`.
pub fn find_member<'a>(doc: &'a str, name: &str) -> Result<Member<'a>, DocumentError> {
    if serde_json::from_str::<serde::de::IgnoredAny>(doc).is_err() {
        return Err(DocumentError::NotJson);
    }
    let bytes = doc.as_bytes();
    let mut at = skip_ws(bytes, 0);
    if bytes.get(at) != Some(&b'{') {
        return Ok(Member::Absent);
    }
    at = skip_ws(bytes, at + 1);
    let mut found = Member::Absent;
    while bytes[at] != b'}' {
        let key = string_end(bytes, at);
        let key_matches = decode(&doc[at..key]) == name;
        at = skip_ws(bytes, skip_ws(bytes, key) + 1);
        let end = value_end(bytes, at);
        if key_matches {
            if found != Member::Absent {
                return Err(DocumentError::Duplicate);
            }
            if bytes[at] != b'"' {
                return Err(DocumentError::NotAString);
            }
            found = Member::String {
                value: decode(&doc[at..end]),
                span: at..end,
            };
        }
        at = skip_ws(bytes, end);
        if bytes[at] == b',' {
            at = skip_ws(bytes, at + 1);
        }
    }
    Ok(found)
}

/// `doc` with each span replaced by the JSON string of its new value.
/// Spans must not overlap; they may come in any order.
pub fn splice(doc: &str, replacements: &mut [(Range<usize>, &str)]) -> String {
    replacements.sort_by_key(|(span, _)| span.start);
    let mut out = String::with_capacity(doc.len() + 16);
    let mut copied = 0;
    for (span, value) in replacements.iter() {
        out.push_str(&doc[copied..span.start]);
        out.push_str(&serde_json::Value::from(*value).to_string());
        copied = span.end;
    }
    out.push_str(&doc[copied..]);
    out
}

fn skip_ws(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        at += 1;
    }
    at
}

/// The offset just past the string token starting at `at`.
fn string_end(bytes: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    loop {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
}

/// The offset just past the value starting at `at`.
fn value_end(bytes: &[u8], at: usize) -> usize {
    match bytes[at] {
        b'"' => string_end(bytes, at),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = at;
            loop {
                match bytes[i] {
                    b'"' => {
                        i = string_end(bytes, i);
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return i + 1;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
        }
        _ => {
            let mut i = at;
            while !matches!(
                bytes.get(i),
                None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
            ) {
                i += 1;
            }
            i
        }
    }
}

/// The value of a JSON string token that is known to be valid. A lone
/// surrogate escape, which serde_json's check lets through, becomes U+FFFD,
/// a character base64 decoding skips as Node's does: never an empty value.
fn decode(token: &str) -> Cow<'_, str> {
    strings::unescape(&token[1..token.len() - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(doc: &str, name: &str) -> Option<String> {
        match find_member(doc, name).unwrap() {
            Member::String { value, span } => {
                assert_eq!(&doc[span.start..span.start + 1], "\"");
                assert_eq!(&doc[span.end - 1..span.end], "\"");
                Some(value.into_owned())
            }
            Member::Absent => None,
        }
    }

    #[test]
    fn finds_top_level_string_members_only() {
        let doc = r#" { "a" : {"$enc":"nested"}, "list": ["$enc", {"x":"}"}], "n": -1.5e3, "$enc" : "c2VhbGVk" , "t": true } "#;
        assert_eq!(value(doc, "$enc").as_deref(), Some("c2VhbGVk"));
        assert_eq!(value(doc, "missing"), None);
        assert_eq!(value(r#"{"k":"v"}"#, "k").as_deref(), Some("v"));
    }

    #[test]
    fn documents_without_the_member_hold_no_ciphertext() {
        for doc in [
            "{}",
            "null",
            "[]",
            r#"["$enc"]"#,
            "42",
            r#""$enc""#,
            r#"{"other":"x"}"#,
        ] {
            assert_eq!(find_member(doc, "$enc"), Ok(Member::Absent), "{doc}");
        }
    }

    #[test]
    fn refuses_what_it_cannot_rewrite_safely() {
        assert_eq!(find_member("{", "k"), Err(DocumentError::NotJson));
        assert_eq!(find_member("", "k"), Err(DocumentError::NotJson));
        assert_eq!(
            find_member(r#"{"k":1}"#, "k"),
            Err(DocumentError::NotAString)
        );
        assert_eq!(
            find_member(r#"{"k":null}"#, "k"),
            Err(DocumentError::NotAString)
        );
        assert_eq!(
            find_member(r#"{"k":"a","k":"b"}"#, "k"),
            Err(DocumentError::Duplicate)
        );
    }

    #[test]
    fn escaped_names_and_values_are_decoded() {
        let doc = r#"{"secret\u0045nc": "ab\/cd", "x\"y": "q"}"#;
        assert_eq!(value(doc, "secretEnc").as_deref(), Some("ab/cd"));
        assert_eq!(value(doc, "x\"y").as_deref(), Some("q"));
    }

    #[test]
    fn splice_changes_only_the_member() {
        let doc = "{\n  \"url\": \"https://hooks.example/a\",\n  \"secretEnc\":\"OLD\",\t\"events\": [\"a\"]\n}";
        let Member::String { span, .. } = find_member(doc, "secretEnc").unwrap() else {
            panic!("member not found")
        };
        let out = splice(doc, &mut [(span, "NEW+/=")]);
        assert_eq!(
            out,
            "{\n  \"url\": \"https://hooks.example/a\",\n  \"secretEnc\":\"NEW+/=\",\t\"events\": [\"a\"]\n}"
        );
    }

    #[test]
    fn splice_handles_several_spans_in_any_order() {
        let doc = r#"{"a":"1","b":"22","c":"333"}"#;
        let span = |n| match find_member(doc, n).unwrap() {
            Member::String { span, .. } => span,
            Member::Absent => unreachable!(),
        };
        let out = splice(doc, &mut [(span("c"), "z"), (span("a"), "x\"")]);
        assert_eq!(out, r#"{"a":"x\"","b":"22","c":"z"}"#);
    }
}
