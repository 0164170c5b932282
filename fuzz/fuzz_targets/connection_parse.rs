//! `ConnectionTarget::parse` on arbitrary text: never a panic, and a password
//! placed in the URL never shows up in an error, a notice, `describe()`,
//! `host()`, `database()` or `Debug`, whatever surrounds it.
#![no_main]

use keyrotate_core::connection::ConnectionTarget;
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "Pw7xQsecretZk";

/// Percent-decode leniently, so an input that merely spells the secret
/// (`%50w7x...` decodes to it) is recognised and skipped.
fn decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let pair = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz");
            if let Ok(b) = u8::from_str_radix(pair, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn shown(url: &str) -> String {
    match ConnectionTarget::parse(url) {
        Ok(t) => format!(
            "{t:?}\n{}\n{}\n{}\n{}\n{}",
            t.describe(),
            t.host(),
            t.database(),
            t.schema(),
            t.notices().join("\n")
        ),
        Err(e) => format!("{e}\n{e:?}\n{}", e.code()),
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Whatever it is, it parses or fails with an error; it never panics.
    let _ = shown(text);

    let lower = decoded(text).to_ascii_lowercase();
    if text.to_ascii_lowercase().contains("secret") || lower.contains("secret") {
        return;
    }
    // In each form the secret is (part of) the password the operator meant:
    // text after it, or text before it inside the user info, where an
    // unencoded '/', '?', '#' or '@' can move the URL's boundaries.
    for url in [
        format!("postgresql://u:{SECRET}@{text}"),
        format!("postgres://u:{SECRET}{text}"),
        format!("postgresql://u:{SECRET}@h/{text}"),
        format!("postgresql://u@h/db?password={SECRET}&{text}"),
        format!("postgresql://u:{SECRET}@h:{text}"),
        format!("postgresql://u:{SECRET}@[{text}"),
        format!("postgresql://u:{text}{SECRET}@h/db"),
        format!("postgresql://u:{text}{SECRET}@h:5432/db?schema=x"),
        format!("postgresql://{text}:{SECRET}@h/db"),
    ] {
        let out = shown(&url);
        assert!(!out.contains(SECRET), "password leaked for {url:?}:\n{out}");
    }
});
