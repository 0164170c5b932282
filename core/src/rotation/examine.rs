//! The crypto for one row: find each location's sealed string, open it,
//! re-seal it, and build the row's new column values. Pure: the scan hands
//! it rows it has already read, so `cargo test` covers every rule here
//! without a database.

use std::borrow::Cow;
use std::ops::Range;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::aad::Aad;
use crate::document::{self, Member};
use crate::envelope;
use crate::error::{Error, Result, Unopened};
use crate::key::{Key, KeyPair};

use super::plan::TablePlan;

/// What a scan does with each value. Shared with the crypto worker thread.
#[derive(Clone)]
pub enum Mode {
    Rotate { keys: Arc<KeyPair>, write: bool },
    Verify { key: Arc<Key> },
}

/// A text cell as read: `Err` when the server sent bytes that are not UTF-8
/// (a `SQL_ASCII` database holds any bytes).
pub type Cell<'a> = Result<Option<&'a str>, NotUtf8>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotUtf8;

/// One row of a table plan's read statement.
pub struct RowView<'a> {
    pub columns: Vec<Cell<'a>>,
    pub aad: Vec<Cell<'a>>,
    /// Whether each location's filter holds for this row.
    pub applies: Vec<bool>,
}

/// What became of one location's value in one row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The column is NULL: counted by the scan's count query, not here.
    Null,
    Empty,
    Reencrypted,
    /// Opens with the new key (rotation) or with the key (verify).
    AlreadyOnNewKey,
    /// It did not open with the key(s) it was tried with.
    Failed(Unopened),
    /// It is not in a shape the backend stores (a document that is not
    /// JSON, a member that is not a string, text that is not UTF-8, a NULL
    /// AAD column): no key was tried, so it says nothing about the key.
    Malformed(Unopened),
    /// The location's filter does not select this row.
    NotApplicable,
}

/// A row's outcome: one per location, and the new text for each column
/// that changes (`None`: keep it).
#[derive(Debug, PartialEq, Eq)]
pub struct RowOutcome {
    pub outcomes: Vec<Outcome>,
    pub new_columns: Vec<Option<String>>,
}

impl RowOutcome {
    pub fn changed(&self) -> bool {
        self.new_columns.iter().any(Option::is_some)
    }
}

pub fn examine_row(mode: &Mode, plan: &TablePlan, row: &RowView<'_>) -> Result<RowOutcome> {
    let mut outcomes = Vec::with_capacity(plan.locations.len());
    // Per column: the whole new value, or the member spans to splice.
    let mut whole: Vec<Option<String>> = vec![None; plan.columns.len()];
    let mut spliced: Vec<Vec<(Range<usize>, String)>> = vec![Vec::new(); plan.columns.len()];
    for (i, loc) in plan.locations.iter().enumerate() {
        if !row.applies[i] {
            outcomes.push(Outcome::NotApplicable);
            continue;
        }
        let text = match row.columns[loc.column] {
            Err(NotUtf8) => {
                outcomes.push(Outcome::Malformed(Unopened::NotUtf8));
                continue;
            }
            Ok(None) => {
                outcomes.push(Outcome::Null);
                continue;
            }
            Ok(Some(text)) => text,
        };
        let (sealed, span) = match &loc.location.member {
            None => (Cow::Borrowed(text), None),
            // An empty text holds no document, so no member: empty, as
            // an empty whole value is.
            Some(_) if text.is_empty() => (Cow::Borrowed(""), None),
            Some(name) => match document::find_member(text, name) {
                Ok(Member::Absent) => (Cow::Borrowed(""), None),
                Ok(Member::String { value, span }) => (value, Some(span)),
                Err(e) => {
                    outcomes.push(Outcome::Malformed(e.into()));
                    continue;
                }
            },
        };
        if sealed.is_empty() {
            outcomes.push(Outcome::Empty);
            continue;
        }
        let aad = match build_aad(loc.aad(), &loc.aad_columns, &row.aad) {
            Ok(aad) => aad,
            Err(why) => {
                outcomes.push(Outcome::Malformed(why));
                continue;
            }
        };
        let (outcome, resealed) = examine_value(mode, &sealed, &aad)?;
        if let Some(new) = resealed {
            match span {
                Some(span) => spliced[loc.column].push((span, new)),
                None => whole[loc.column] = Some(new),
            }
        }
        outcomes.push(outcome);
    }
    let new_columns = whole
        .into_iter()
        .zip(spliced)
        .enumerate()
        .map(|(column, (whole, spans))| match (whole, spans.is_empty()) {
            (Some(value), _) => Some(value),
            (None, true) => None,
            (None, false) => {
                let Ok(Some(text)) = row.columns[column] else {
                    unreachable!("a member was found in this column's text")
                };
                let mut replacements: Vec<(Range<usize>, &str)> =
                    spans.iter().map(|(s, v)| (s.clone(), v.as_str())).collect();
                Some(document::splice(text, &mut replacements))
            }
        })
        .collect();
    Ok(RowOutcome {
        outcomes,
        new_columns,
    })
}

fn build_aad<'a>(
    aad: &'a Aad,
    indexes: &[usize],
    cells: &[Cell<'_>],
) -> Result<Cow<'a, [u8]>, Unopened> {
    match aad {
        Aad::None => Ok(Cow::Borrowed(b"")),
        Aad::Constant(text) => Ok(Cow::Borrowed(text.as_bytes())),
        Aad::Template(template) => {
            let mut values = Vec::with_capacity(indexes.len());
            for &i in indexes {
                values.push(cells[i].map_err(|_| Unopened::AadColumnNotUtf8)?);
            }
            template
                .render(&values)
                .map(Cow::Owned)
                .map_err(|_| Unopened::AadColumnNull)
        }
    }
}

/// Open one sealed string and, in a rotation, re-seal it under the new key.
fn examine_value(mode: &Mode, sealed: &str, aad: &[u8]) -> Result<(Outcome, Option<String>)> {
    Ok(match mode {
        Mode::Verify { key } => match envelope::open(key, sealed, aad) {
            Ok(_) => (Outcome::AlreadyOnNewKey, None),
            Err(e) => (Outcome::Failed(e.into()), None),
        },
        Mode::Rotate { keys, .. } => match envelope::open(&keys.old, sealed, aad) {
            Ok(plaintext) => (
                Outcome::Reencrypted,
                Some(reseal(&keys.new, &plaintext, aad)?),
            ),
            // A refreshed token written by a backend that already runs on
            // the new key, or a value from an interrupted earlier run.
            Err(old_err) => match envelope::open(&keys.new, sealed, aad) {
                Ok(_) => (Outcome::AlreadyOnNewKey, None),
                Err(_) => (Outcome::Failed(old_err.into()), None),
            },
        },
    })
}

/// Seal under the new key and prove the result opens to the same bytes
/// before it may be written.
fn reseal(new: &Key, plaintext: &Zeroizing<Vec<u8>>, aad: &[u8]) -> Result<String> {
    let sealed = envelope::seal(new, plaintext, aad);
    match envelope::open(new, &sealed, aad) {
        Ok(check) if check[..] == plaintext[..] => Ok(sealed),
        _ => Err(Error::internal(
            "a value sealed under the new key did not re-open to the same plaintext; rolled back",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::KeyRole;
    use crate::key::KeyPolicy;
    use crate::locations::Registry;
    use crate::rotation::plan::ColumnKind;

    const OLD: &str = "Zr8qP1vX4mN7bC2kL9sD3fG6hJ0wE5tY";
    const NEW: &str = "aQ3wS5eD7rF9tG1yH3uJ5iK7oL9pZ1xC";

    fn key(text: &str) -> Key {
        Key::parse(KeyRole::Old, text.as_bytes(), KeyPolicy::default())
            .unwrap()
            .0
    }

    fn rotate() -> Mode {
        Mode::Rotate {
            keys: Arc::new(
                KeyPair::parse(OLD.as_bytes(), NEW.as_bytes(), KeyPolicy::default()).unwrap(),
            ),
            write: true,
        }
    }

    fn plan(table: &str, kind: ColumnKind) -> TablePlan {
        TablePlan::new(
            Registry::defaults()
                .resolve("public")
                .unwrap()
                .into_iter()
                .filter(|l| l.table == table)
                .map(|l| (l, kind))
                .collect(),
        )
    }

    fn open_new(value: &str, aad: &[u8]) -> Vec<u8> {
        envelope::open(&key(NEW), value, aad).unwrap().to_vec()
    }

    #[test]
    fn connectors_row_with_both_locations_is_rewritten_once() {
        let p = plan("connectors", ColumnKind::Text);
        let auth = envelope::seal(&key(OLD), br#"{"token":"t"}"#, b"");
        let vars = envelope::seal(&key(OLD), br#"{"A":"1"}"#, b"connectors.env_vars");
        let doc = format!(r#"{{"$enc": "{vars}", "PLAIN": "kept"}}"#);
        let row = RowView {
            columns: vec![Ok(Some(&auth)), Ok(Some(&doc))],
            aad: vec![],
            applies: vec![true, true],
        };
        let out = examine_row(&rotate(), &p, &row).unwrap();
        assert_eq!(out.outcomes, [Outcome::Reencrypted, Outcome::Reencrypted]);
        let new_auth = out.new_columns[0].as_deref().unwrap();
        assert_eq!(open_new(new_auth, b""), br#"{"token":"t"}"#);
        let new_doc = out.new_columns[1].as_deref().unwrap();
        let Member::String { value, .. } = document::find_member(new_doc, "$enc").unwrap() else {
            panic!("$enc is gone")
        };
        assert_eq!(open_new(&value, b"connectors.env_vars"), br#"{"A":"1"}"#);
        assert_eq!(
            new_doc,
            format!(r#"{{"$enc": "{value}", "PLAIN": "kept"}}"#)
        );
    }

    #[test]
    fn mixed_state_empty_and_absent_members() {
        let p = plan("connectors", ColumnKind::Jsonb);
        let on_new = envelope::seal(&key(NEW), b"x", b"");
        for (doc, expected) in [
            ("{}", Outcome::Empty),
            ("null", Outcome::Empty),
            (r#"{"PLAIN": "only"}"#, Outcome::Empty),
            (r#"{"$enc": ""}"#, Outcome::Empty),
            (
                r#"{"$enc": 7}"#,
                Outcome::Malformed(Unopened::MemberNotAString),
            ),
            ("{", Outcome::Malformed(Unopened::NotJson)),
        ] {
            let row = RowView {
                columns: vec![Ok(Some(&on_new)), Ok(Some(doc))],
                aad: vec![],
                applies: vec![true, true],
            };
            let out = examine_row(&rotate(), &p, &row).unwrap();
            assert_eq!(out.outcomes, [Outcome::AlreadyOnNewKey, expected], "{doc}");
            assert!(!out.changed(), "{doc}");
        }
    }

    #[test]
    fn template_aad_is_bound_to_the_row() {
        let p = plan("identity_providers", ColumnKind::Text);
        let sealed = envelope::seal(&key(OLD), b"s3cr3t", b"idp_client_secret:idp1:org1");
        let row = |id, org| RowView {
            columns: vec![Ok(Some(sealed.as_str()))],
            aad: vec![Ok(Some(id)), org],
            applies: vec![true],
        };
        let own = examine_row(&rotate(), &p, &row("idp1", Ok(Some("org1")))).unwrap();
        assert_eq!(own.outcomes, [Outcome::Reencrypted]);
        assert_eq!(
            open_new(
                own.new_columns[0].as_deref().unwrap(),
                b"idp_client_secret:idp1:org1"
            ),
            b"s3cr3t"
        );
        // The same value copied into another provider's row does not open.
        let copied = examine_row(&rotate(), &p, &row("idp2", Ok(Some("org1")))).unwrap();
        assert_eq!(copied.outcomes, [Outcome::Failed(Unopened::Authentication)]);
        let null_org = examine_row(&rotate(), &p, &row("idp1", Ok(None))).unwrap();
        assert_eq!(
            null_org.outcomes,
            [Outcome::Malformed(Unopened::AadColumnNull)]
        );
    }

    #[test]
    fn filtered_rows_and_bytes_that_are_not_utf8() {
        let p = plan("org_settings", ColumnKind::Text);
        let row = RowView {
            columns: vec![Ok(Some("{\"smtp\": \"plain\"}"))],
            aad: vec![Ok(Some("org1"))],
            applies: vec![false],
        };
        let out = examine_row(&rotate(), &p, &row).unwrap();
        assert_eq!(out.outcomes, [Outcome::NotApplicable]);
        let row = RowView {
            columns: vec![Err(NotUtf8)],
            aad: vec![Ok(Some("org1"))],
            applies: vec![true],
        };
        let out = examine_row(&rotate(), &p, &row).unwrap();
        assert_eq!(out.outcomes, [Outcome::Malformed(Unopened::NotUtf8)]);
    }

    #[test]
    fn verify_opens_with_the_one_key() {
        let p = plan("connector_oauth_attempts", ColumnKind::Text);
        let sealed = envelope::seal(&key(NEW), b"{}", b"connector-oauth");
        let unbound = envelope::seal(&key(NEW), b"{}", b"");
        let verify = Mode::Verify {
            key: Arc::new(key(NEW)),
        };
        for (value, expected) in [
            (&sealed, Outcome::AlreadyOnNewKey),
            (&unbound, Outcome::Failed(Unopened::Authentication)),
        ] {
            let row = RowView {
                columns: vec![Ok(Some(value.as_str()))],
                aad: vec![],
                applies: vec![true],
            };
            assert_eq!(examine_row(&verify, &p, &row).unwrap().outcomes, [expected]);
        }
    }
}
