//! One column being searched: what the server cuts out of its values as
//! candidates, and which of them open with the key, under which AAD and at
//! which member.

use std::collections::BTreeMap;

use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use crate::document;
use crate::envelope;
use crate::error::Place;
use crate::ident::quote_ident;
use crate::key::Key;
use crate::locations::ResolvedLocation;
use crate::report::DiscoveredColumn;

use crate::rotation::plan::{filter_flag_sql, text_params};
use crate::rotation::tid::Tid;

/// At most this many candidate values are tried per column, in batches,
/// stopping at the first batch where one opens: enough to see past a table
/// full of random tokens, and cheap (an attempt costs about a microsecond).
pub(super) const CANDIDATES_PER_COLUMN: usize = 20_000;

/// Candidates in flight are bounded by bytes, not by count: the first batch
/// is small, and each next one holds about this many bytes of them.
const CANDIDATE_BUDGET_BYTES: usize = 16 << 20;
const FIRST_FETCH: usize = 16;
const MAX_FETCH: usize = 500;
/// A candidate longer than this is not tried (and a notice says how many
/// were not): the backend seals JSON of credentials, and a megabyte of
/// certificates seals to under 1.4 MB.
pub(super) const MAX_CANDIDATE_BYTES: usize = 4 << 20;

/// A JSON string made only of base64 characters (or `\/`, the escaped
/// slash JSON held as text may write), 42 or more: every sealed value is
/// one. Bound as a parameter, so the server reads it as written.
const JSON_STRING_LOOKS_SEALED: &str = r#""((?:[-A-Za-z0-9+/_=]|\\/){42,})""#;
const CURSOR: &str = "keyrotate_discovery";

/// The column's searched text, as the cursor and the re-read select it,
/// and the parameters that text and the registry filters bind.
struct Search<'a> {
    text: String,
    params: Vec<&'a str>,
    /// How many of `params` the text and the filters number.
    next: usize,
}

/// Rows whose candidate opened (by table and ctid), with which registry
/// filters each meets.
type Opened = BTreeMap<(u32, Tid), Vec<bool>>;

/// What the candidates' fetch found.
#[derive(Default)]
struct Tried {
    opened: Opened,
    /// More candidates were left than were tried.
    more: bool,
    /// Candidates too long to try.
    too_long: u64,
}

/// 44 characters is the shortest envelope (IV and tag around an empty
/// plaintext); a run of 42 base64 characters is in every one of them. A
/// backslash belongs to the run too: JSON held as text may write `/` as
/// `\/`, which breaks the run but not the value `JSON.parse` reads. It is
/// spelt `chr(92)` so that the pattern means the same whatever the server's
/// `standard_conforming_strings`.
const LOOKS_SEALED: &str = "('[-A-Za-z0-9+/_' || chr(92) || chr(92) || ']{42}')";

/// `text` holds a run of 42 that [`LOOKS_SEALED`] matches. The length test
/// first: it reads a header where the regular expression reads every
/// character, and most columns (names, ids, URLs, flags) are shorter than
/// any sealed value; measured on 10,000 connectors, the probe took a
/// tenth of the time (docs/benchmarks.md).
pub(super) fn looks_sealed(text: &str) -> String {
    format!("(octet_length({text}) >= 42 AND {text} ~ {LOOKS_SEALED})")
}

/// One column outside the registry (or partly in it), being searched.
pub(super) struct Column<'a> {
    pub(super) schema: &'a str,
    pub(super) table: &'a str,
    pub(super) column: &'a str,
    /// Members of a jsonb column removed before searching.
    pub(super) strip: Vec<&'a str>,
    /// Registry locations in this column: their cells are not "outside".
    pub(super) registered: Vec<&'a ResolvedLocation>,
    pub(super) own_aad: String,
    pub(super) constants: &'a [&'a str],
}

impl<'a> Column<'a> {
    /// The column's text as searched: `"col"::text`, or for a jsonb column
    /// with members to leave out the column without them, numbering
    /// parameters after `next` and appending their values to `params`.
    /// Only an object loses members: `-` on a jsonb scalar (a JSON `null`
    /// the backend may hold) is an error, and on an array it would drop
    /// matching string elements.
    pub(super) fn searched(&self, next: &mut usize, params: &mut Vec<&'a str>) -> String {
        let column = quote_ident(self.column);
        if self.strip.is_empty() {
            return format!("{column}::text");
        }
        let mut stripped = column.clone();
        for member in &self.strip {
            *next += 1;
            stripped = format!("{stripped} - ${next}::text");
            params.push(member);
        }
        format!(
            "(CASE WHEN jsonb_typeof({column}) = 'object' THEN {stripped} ELSE {column} END)::text"
        )
    }

    /// The places in this column that hold values opening with `key`,
    /// whether there were more candidates than were tried, and how many
    /// were too long to try.
    ///
    /// The server cuts the candidates out of each value (the whole value,
    /// or each string of a JSON document that looks sealed) and sends only
    /// those, a budget of bytes at a time: an imported OpenAPI document of
    /// many megabytes costs what its sealed-looking strings cost, never
    /// itself. Only a value in which a candidate opens is read whole, once,
    /// to learn where in the document that string is.
    pub(super) async fn scan(
        &self,
        tx: &Transaction<'_>,
        key: &Key,
    ) -> Result<(Vec<DiscoveredColumn>, bool, u64), tokio_postgres::Error> {
        let search = self.declare(tx).await?;
        let tried = self.candidates(tx, key).await?;
        tx.batch_execute(&format!("CLOSE {CURSOR}")).await?;
        let places = self.places(tx, &search, &tried.opened, key).await?;
        Ok((places, tried.more, tried.too_long))
    }

    /// Declare the cursor over the column's candidates: each row's address,
    /// which registry filters it meets, and one candidate string (NULL when
    /// longer than any value worth trying).
    async fn declare(&self, tx: &Transaction<'_>) -> Result<Search<'a>, tokio_postgres::Error> {
        let mut next = 0;
        let mut params: Vec<&'a str> = Vec::new();
        let text = self.searched(&mut next, &mut params);
        let flags: Vec<String> = self
            .registered
            .iter()
            .map(|l| filter_flag_sql(l, &mut next))
            .collect();
        params.extend(
            self.registered
                .iter()
                .flat_map(|l| l.filter.iter().map(|(_, v)| v.as_str())),
        );
        let pattern = format!("${}", next + 1);
        let limit = format!("${}", next + 2);
        let limit_text = MAX_CANDIDATE_BYTES.to_string();
        let mut all = params.clone();
        all.extend([JSON_STRING_LOOKS_SEALED, &limit_text]);
        // tableoid as well: with child tables, a ctid names a row only
        // within its own table.
        let select = ["r.tableoid".to_owned(), "r.ctid".to_owned()]
            .into_iter()
            .chain((0..flags.len()).map(|i| format!("r.f{i}")))
            .chain([format!(
                "CASE WHEN octet_length(m.s) <= {limit}::int THEN m.s END"
            )])
            .collect::<Vec<_>>()
            .join(", ");
        let flag_columns: String = flags
            .iter()
            .enumerate()
            .map(|(i, f)| format!(", {f} AS f{i}"))
            .collect();
        tx.query_typed(
            &format!(
                "DECLARE {CURSOR} NO SCROLL CURSOR FOR SELECT {select} \
                 FROM (SELECT tableoid, ctid, {text} AS doc{flag_columns} FROM {}.{} WHERE {}) r, \
                 LATERAL (SELECT r.doc AS s WHERE left(ltrim(r.doc), 1) NOT IN ('{{', '[') \
                          UNION ALL \
                          SELECT (regexp_matches(r.doc, {pattern}, 'g'))[1] WHERE left(ltrim(r.doc), 1) IN ('{{', '[')) m",
                quote_ident(self.schema),
                quote_ident(self.table),
                looks_sealed(&text)
            ),
            &text_params(&all),
        )
        .await?;
        Ok(Search { text, params, next })
    }

    /// Fetch and try the cursor's candidates, a budget of bytes at a time,
    /// until one batch holds one that opens or the cap is reached.
    async fn candidates(
        &self,
        tx: &Transaction<'_>,
        key: &Key,
    ) -> Result<Tried, tokio_postgres::Error> {
        let mut out = Tried::default();
        let mut tried = 0usize;
        let mut fetch = FIRST_FETCH;
        loop {
            // Past the first batch that opened, or the cap, one more row
            // only says whether there were more.
            let enough = !out.opened.is_empty() || tried >= CANDIDATES_PER_COLUMN;
            let rows = tx
                .query_typed(
                    &format!(
                        "FETCH FORWARD {} FROM {CURSOR}",
                        if enough { 1 } else { fetch }
                    ),
                    &[],
                )
                .await?;
            if rows.is_empty() {
                break;
            }
            if enough {
                out.more = true;
                break;
            }
            let mut bytes = 0;
            for row in &rows {
                tried += 1;
                let candidate = row.try_get::<_, Option<&str>>(2 + self.registered.len());
                let Ok(Some(candidate)) = candidate else {
                    // Longer than any value this searches, or not UTF-8,
                    // which no sealed value the backend reads is.
                    out.too_long += u64::from(matches!(candidate, Ok(None)));
                    continue;
                };
                bytes += candidate.len();
                if self.opens(&candidate.replace("\\/", "/"), key).is_some() {
                    let flags = (0..self.registered.len()).map(|i| row.get(2 + i)).collect();
                    out.opened.insert((row.get(0), row.get(1)), flags);
                }
            }
            // As many as the budget holds, from what the last batch weighed.
            let each = (bytes / rows.len()).max(1);
            fetch = (CANDIDATE_BUDGET_BYTES / each).clamp(1, MAX_FETCH);
        }
        Ok(out)
    }

    /// Read each value in which a candidate opened, whole, once, and count
    /// the places in it that open with `key`.
    async fn places(
        &self,
        tx: &Transaction<'_>,
        search: &Search<'_>,
        opened: &Opened,
        key: &Key,
    ) -> Result<Vec<DiscoveredColumn>, tokio_postgres::Error> {
        let Search { text, params, next } = search;
        let mut matches: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
        for ((table, ctid), applies) in opened {
            let row = tx
                .query_typed_opt(
                    &format!(
                        "SELECT {text} FROM {}.{} WHERE tableoid = ${} AND ctid = ${}",
                        quote_ident(self.schema),
                        quote_ident(self.table),
                        next + 1,
                        next + 2
                    ),
                    &[
                        text_params(&params[..*next]),
                        vec![(table as _, Type::OID), (ctid as _, Type::TID)],
                    ]
                    .concat(),
                )
                .await?;
            let Some(Ok(value)) = row.as_ref().map(|r| r.try_get::<_, &str>(0)) else {
                continue;
            };
            for place in self.sealed_in(value, applies, key) {
                *matches.entry(place).or_default() += 1;
            }
        }
        Ok(matches
            .into_iter()
            .map(|((member, aad), matches)| DiscoveredColumn {
                place: Place {
                    schema: self.schema.to_owned(),
                    table: self.table.to_owned(),
                    column: self.column.to_owned(),
                    member,
                },
                aad,
                matches,
            })
            .collect())
    }

    /// The places in one value that open with `key`: `(member path, AAD)`.
    fn sealed_in(
        &self,
        value: &str,
        applies: &[bool],
        key: &Key,
    ) -> Vec<(Option<String>, Option<String>)> {
        let mut out = Vec::new();
        let claimed = |member: Option<&str>| {
            self.registered
                .iter()
                .zip(applies)
                .any(|(l, &on)| on && l.member.as_deref() == member)
        };
        if !claimed(None) {
            if let Some(aad) = self.opens(value, key) {
                out.push((None, aad));
            }
        }
        let trimmed = value.trim_start();
        if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
            return out;
        }
        document::strings(value, |found| {
            if found.top_member() && claimed(Some(&found.path())) {
                return;
            }
            if let Some(aad) = self.opens(&found.value, key) {
                out.push((Some(found.path()), aad));
            }
        });
        out
    }

    /// The AAD under which `value` opens with `key`, if any: `Some(None)`
    /// for no AAD.
    fn opens(&self, value: &str, key: &Key) -> Option<Option<String>> {
        if value.len() < 44 {
            return None;
        }
        let raw = envelope::decode(value);
        let constants = self
            .constants
            .iter()
            .copied()
            .chain([self.own_aad.as_str()]);
        std::iter::once(None)
            .chain(constants.map(Some))
            .find(|aad| envelope::open_decoded(key, &raw, aad.unwrap_or("").as_bytes()).is_ok())
            .map(|aad| aad.map(str::to_owned))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column<'a>(strip: Vec<&'a str>, constants: &'a [&'a str]) -> Column<'a> {
        Column {
            schema: "public",
            table: "connectors",
            column: "env_vars",
            strip,
            registered: Vec::new(),
            own_aad: "connectors.env_vars".to_owned(),
            constants,
        }
    }

    #[test]
    fn a_column_without_members_to_leave_out_is_searched_as_text() {
        let mut params = Vec::new();
        let mut next = 0;
        assert_eq!(
            column(Vec::new(), &[]).searched(&mut next, &mut params),
            r#""env_vars"::text"#
        );
        assert_eq!((next, params.len()), (0, 0));
    }

    #[test]
    fn members_are_left_out_of_objects_only_and_numbered_after_earlier_parameters() {
        let mut params = vec!["earlier"];
        let mut next = 1;
        let expr = column(vec!["$enc", "b"], &[]).searched(&mut next, &mut params);
        assert_eq!(
            expr,
            r#"(CASE WHEN jsonb_typeof("env_vars") = 'object' THEN "env_vars" - $2::text - $3::text ELSE "env_vars" END)::text"#
        );
        assert_eq!(next, 3);
        assert_eq!(params, ["earlier", "$enc", "b"]);
    }
}
