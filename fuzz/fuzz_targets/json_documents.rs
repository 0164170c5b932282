//! The two JSON readers a rotation trusts with database text, on any input:
//! - discovery's lenient walker never panics, and on a document serde_json
//!   accepts it finds every string serde_json finds, at the same path, with
//!   the same value (serde_json is the model; the walker may find more, as
//!   for duplicate members serde_json drops);
//! - a registered member found by `find_member` is spliced so that only its
//!   token changes, and is then found again with the new value.
#![no_main]

use keyrotate_core::document::{find_member, splice, strings, Member};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn model(value: &Value, path: String, out: &mut Vec<(String, String)>) {
    match value {
        Value::String(s) => out.push((path, s.clone())),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                model(item, format!("{path}[{i}]"), out);
            }
        }
        Value::Object(members) => {
            for (name, item) in members {
                let child = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                model(item, child, out);
            }
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut found: Vec<(String, String)> = Vec::new();
    strings(text, |f| found.push((f.path(), f.value.into_owned())));
    if let Ok(doc) = serde_json::from_str::<Value>(text) {
        let mut expected = Vec::new();
        model(&doc, String::new(), &mut expected);
        for pair in &expected {
            assert!(found.contains(pair), "the walker missed a string serde_json reads");
        }
    }
    // The member name is the first string the walker saw, if any: a name
    // that is likely to be present.
    let name = found.first().map(|(p, _)| p.clone()).unwrap_or_default();
    if let Ok(Member::String { span, .. }) = find_member(text, &name) {
        let out = splice(text, &mut [(span.clone(), "NEW")]);
        assert_eq!(&out[..span.start], &text[..span.start]);
        assert_eq!(&out[span.start + 5..], &text[span.end..]);
        match find_member(&out, &name) {
            Ok(Member::String { value, .. }) => assert_eq!(value, "NEW"),
            other => panic!("the spliced member is gone: {other:?}"),
        }
    }
});
