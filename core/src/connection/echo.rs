//! What may be repeated from a `DATABASE_URL` in notices and errors. A
//! password with an unencoded `/`, `?` or `#` spills into the host, the
//! path or the query, so text from there is echoed only when it has the
//! shape of a name.

/// Only names of this shape are echoed in notices and errors; anything else
/// may be a fragment of a badly encoded password.
pub(super) fn looks_like_a_name(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}
