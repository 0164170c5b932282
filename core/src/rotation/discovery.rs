//! "No ciphertext left behind": before anything is written, look outside
//! the registry for values that open with the old key (or, in a verify, the
//! key) — whole text values, and string members anywhere in JSON held in
//! text, json and jsonb columns — trying no AAD, each constant AAD the
//! registry knows, and `<table>.<column>` (the backend's naming habit).
//!
//! Discovery runs on the run's own connection before the run's transaction
//! begins (a pooler's pool of one must do), in read-only transactions of its
//! own over a few tables each: it never makes writers wait, and the locks it
//! holds at any moment do not grow with the number of tables. A table it may
//! not read, or that row-level security would filter, is skipped with a
//! notice; it never fails the run on one.
//!
//! Searching before the rotation's locks leaves a moment in which a value
//! could be sealed outside the registry unseen; what writes there is not
//! the running backend, which writes only the registry's locations, but a
//! newer release's migration, and a rotation does not run beside one.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

use crate::aad::Aad;
use crate::document;
use crate::envelope;
use crate::error::{LockKind, Place, Result};
use crate::ident::quote_ident;
use crate::key::Key;
use crate::locations::Location;
use crate::report::{DiscoveredColumn, Findings};

use super::dberror::{db_error, lock_error};
use super::plan::{filter_flag_sql, text_params};
use super::session::read_only;
use super::tid::Tid;

/// At most this many candidate values are tried per column, in batches,
/// stopping at the first batch where one opens: enough to see past a table
/// full of random tokens, and cheap (an attempt costs about a microsecond).
const CANDIDATES_PER_COLUMN: usize = 20_000;

/// Candidates in flight are bounded by bytes, not by count: the first batch
/// is small, and each next one holds about this many bytes of them.
const CANDIDATE_BUDGET_BYTES: usize = 16 << 20;
const FIRST_FETCH: usize = 16;
const MAX_FETCH: usize = 500;
/// A candidate longer than this is not tried (and a notice says how many
/// were not): the backend seals JSON of credentials, and a megabyte of
/// certificates seals to under 1.4 MB.
const MAX_CANDIDATE_BYTES: usize = 4 << 20;

/// A JSON string made only of base64 characters (or `\/`, the escaped
/// slash JSON held as text may write), 42 or more: every sealed value is
/// one. Bound as a parameter, so the server reads it as written.
const JSON_STRING_LOOKS_SEALED: &str = r#""((?:[-A-Za-z0-9+/_=]|\\/){42,})""#;
const CURSOR: &str = "keyrotate_discovery";

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
fn looks_sealed(text: &str) -> String {
    format!("(octet_length({text}) >= 42 AND {text} ~ {LOOKS_SEALED})")
}

/// Tables searched per read-only transaction: each holds an ACCESS SHARE
/// lock on its tables (and their indexes) until it ends, and the server's
/// lock table is shared by every session.
const TABLES_PER_TRANSACTION: usize = 50;

pub async fn discover(
    client: &mut Client,
    key: &Key,
    locations: &[Location],
    lock_ms: u128,
    findings: &mut Findings,
) -> Result<Vec<DiscoveredColumn>> {
    let mut catalog = Catalog::read(client, locations, lock_ms).await?;
    let constants: Vec<&str> = locations
        .iter()
        .filter_map(|l| match &l.aad {
            Aad::Constant(c) => Some(c.as_str()),
            _ => None,
        })
        .collect();
    let searched: Vec<(&(String, String), Vec<Column>)> = catalog
        .tables
        .iter()
        .filter(|((schema, table), _)| !catalog.skipped.contains_key(&format!("{schema}.{table}")))
        .map(|(name, columns)| (name, outside_registry(name, columns, locations, &constants)))
        .filter(|(_, columns)| !columns.is_empty())
        .collect();
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for chunk in searched.chunks(TABLES_PER_TRANSACTION) {
        let results = search_chunk(client, chunk, key, lock_ms).await?;
        for (((schema, table), _), result) in chunk.iter().zip(results) {
            let Some(searched) = result else {
                skipped.push(format!("{schema}.{table}"));
                continue;
            };
            found.extend(searched.found);
            for column in searched.sampled {
                findings.notices.push(format!(
                    "discovery tried only the first {CANDIDATES_PER_COLUMN} values of {schema}.{table}.{column} that look sealed (none opened); ciphertext among the rest would not be seen"
                ));
            }
            for (column, count) in searched.too_long {
                findings.notices.push(format!(
                    "discovery did not try {count} value(s) of {schema}.{table}.{column} over {} MB that look sealed; ciphertext there would not be seen",
                    MAX_CANDIDATE_BYTES >> 20
                ));
            }
        }
    }
    for table in skipped {
        catalog.skipped.insert(table, "this role may not read it");
    }
    if catalog.unnamed > 0 {
        findings.notices.push(format!(
            "discovery skipped {} column(s) whose schema, table or column name is not valid UTF-8",
            catalog.unnamed
        ));
    }
    for (table, why) in catalog.skipped {
        findings
            .notices
            .push(format!("discovery skipped {table}: {why}"));
    }
    Ok(found)
}

/// The text, json and jsonb columns of the registry's schemas, by table,
/// and the tables discovery may not read whole.
struct Catalog {
    tables: BTreeMap<(String, String), Vec<(String, bool)>>,
    skipped: BTreeMap<String, &'static str>,
    /// Columns whose names are not UTF-8 (a SQL_ASCII database).
    unnamed: usize,
}

impl Catalog {
    async fn read(client: &mut Client, locations: &[Location], lock_ms: u128) -> Result<Catalog> {
        let mut schemas: Vec<&str> = locations
            .iter()
            .map(|l| l.schema.as_deref().unwrap_or_default())
            .collect();
        schemas.sort_unstable();
        schemas.dedup();
        let tx = read_only(client, lock_ms).await?;
        let rows = tx
            .query_typed(
                // Domains count as their base type, and citext (an
                // extension's type, so known by name) as text.
                "SELECT n.nspname, c.relname, a.attname, \
                        has_column_privilege(c.oid, a.attnum, 'SELECT'), row_security_active(c.oid), \
                        COALESCE(NULLIF(t.typbasetype, 0), t.oid) = 'jsonb'::regtype \
                 FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition \
                   AND c.relispopulated \
                   AND a.attnum > 0 AND NOT a.attisdropped \
                   AND (COALESCE(NULLIF(t.typbasetype, 0), t.oid) IN \
                            ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, \
                             'json'::regtype, 'jsonb'::regtype) \
                        OR t.typname = 'citext') \
                 ORDER BY 1, 2, 3",
                &[(&schemas, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(db_error)?;
        tx.rollback().await.map_err(db_error)?;
        let mut catalog = Catalog {
            tables: BTreeMap::new(),
            skipped: BTreeMap::new(),
            unnamed: 0,
        };
        for row in rows {
            let names = (
                row.try_get::<_, String>(0),
                row.try_get::<_, String>(1),
                row.try_get::<_, String>(2),
            );
            let (Ok(schema), Ok(table), Ok(column)) = names else {
                catalog.unnamed += 1;
                continue;
            };
            if row.get::<_, bool>(4) {
                catalog.skipped.insert(
                    format!("{schema}.{table}"),
                    "row-level security would filter its rows",
                );
            } else if !row.get::<_, bool>(3) {
                catalog
                    .skipped
                    .insert(format!("{schema}.{table}"), "this role may not read it");
            } else {
                catalog
                    .tables
                    .entry((schema, table))
                    .or_default()
                    .push((column, row.get::<_, bool>(5)));
            }
        }
        Ok(catalog)
    }
}

/// The columns of one table to search: all but those a whole-value
/// location covers on every row.
fn outside_registry<'a>(
    (schema, table): &'a (String, String),
    columns: &'a [(String, bool)],
    locations: &'a [Location],
    constants: &'a [&'a str],
) -> Vec<Column<'a>> {
    columns
        .iter()
        .filter_map(|(column, jsonb)| {
            let registered: Vec<&Location> = locations
                .iter()
                .filter(|l| {
                    l.schema.as_deref() == Some(schema.as_str())
                        && l.table == *table
                        && l.column == *column
                })
                .collect();
            let covered = registered
                .iter()
                .any(|l| l.member.is_none() && l.filter.is_empty());
            // A member every row holds in a jsonb column is left out of
            // what is searched, so that the server, not this process,
            // drops the registry's own ciphertext.
            let strip = registered
                .iter()
                .filter(|l| *jsonb && l.filter.is_empty())
                .filter_map(|l| l.member.as_deref())
                .collect();
            (!covered).then(|| Column {
                schema,
                table,
                column,
                strip,
                registered,
                own_aad: format!("{table}.{column}"),
                constants,
            })
        })
        .collect()
}

/// Search a chunk of tables in one read-only transaction; `None` for a
/// table this role may not read. First all at once: the tables' probes go
/// out pipelined on the one connection, since on a small installation the
/// round trips, not the searching, are most of discovery's time. A table
/// the catalog said may be read can still refuse (a privilege revoked
/// meanwhile): that aborts the transaction, and the chunk is searched
/// again a table at a time, each under a savepoint.
async fn search_chunk(
    client: &mut Client,
    chunk: &[(&(String, String), Vec<Column<'_>>)],
    key: &Key,
    lock_ms: u128,
) -> Result<Vec<Option<Searched>>> {
    let tx = read_only(client, lock_ms).await?;
    // The search's own error first: after a fatal one (the session
    // terminated) the rollback would fail too, and only say the connection
    // is gone.
    match search_tables(&tx, chunk, key).await {
        Ok(searched) => {
            tx.rollback().await.map_err(db_error)?;
            return Ok(searched.into_iter().map(Some).collect());
        }
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            tx.rollback().await.map_err(db_error)?;
        }
        Err(e) => return Err(lock_error(e, LockKind::Discovery)),
    }
    let mut tx = read_only(client, lock_ms).await?;
    let mut out = Vec::with_capacity(chunk.len());
    for (_, columns) in chunk {
        out.push(search_in_savepoint(&mut tx, columns, key).await?);
    }
    tx.rollback().await.map_err(db_error)?;
    Ok(out)
}

/// Every table of a chunk, probes pipelined. The first error in table
/// order is the one returned: the statements after a failed one fail only
/// because the transaction has aborted.
async fn search_tables(
    tx: &Transaction<'_>,
    chunk: &[(&(String, String), Vec<Column<'_>>)],
    key: &Key,
) -> Result<Vec<Searched>, tokio_postgres::Error> {
    let hits: Vec<Vec<bool>> = join_all(chunk.iter().map(|(_, columns)| probe(tx, columns)))
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(chunk.len());
    for ((_, columns), hits) in chunk.iter().zip(hits) {
        out.push(search_columns(tx, columns, &hits, key).await?);
    }
    Ok(out)
}

/// Search one table under a savepoint. `None` when a privilege the
/// catalog could not see (one revoked meanwhile) stops it: the table is
/// skipped, as one the role may not read. Any other error fails the run:
/// a table discovery could not search is not one it may call clean.
async fn search_in_savepoint(
    tx: &mut Transaction<'_>,
    columns: &[Column<'_>],
    key: &Key,
) -> Result<Option<Searched>> {
    let savepoint = tx
        .savepoint("keyrotate_discovery")
        .await
        .map_err(db_error)?;
    match search_table(&savepoint, columns, key).await {
        Ok(searched) => {
            savepoint.commit().await.map_err(db_error)?;
            Ok(Some(searched))
        }
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => {
            savepoint.rollback().await.map_err(db_error)?;
            Ok(None)
        }
        Err(e) => Err(lock_error(e, LockKind::Discovery)),
    }
}

async fn search_table(
    tx: &Transaction<'_>,
    columns: &[Column<'_>],
    key: &Key,
) -> Result<Searched, tokio_postgres::Error> {
    let hits = probe(tx, columns).await?;
    search_columns(tx, columns, &hits, key).await
}

/// One pass over the table finds the columns that hold anything shaped like
/// a sealed value at all; only those are searched, each with its own portal
/// that stops early. Most columns (names, URLs, ids) hold nothing of the
/// kind, and this spares a full scan of the table for each of them.
async fn probe(
    tx: &Transaction<'_>,
    columns: &[Column<'_>],
) -> Result<Vec<bool>, tokio_postgres::Error> {
    let mut next = 0;
    let mut params: Vec<&str> = Vec::new();
    let probes: Vec<String> = columns
        .iter()
        .map(|c| {
            let expr = c.searched(&mut next, &mut params);
            format!("count(*) FILTER (WHERE {})", looks_sealed(&expr))
        })
        .collect();
    let counts = tx
        .query_typed_one(
            &format!(
                "SELECT {} FROM {}.{}",
                probes.join(", "),
                quote_ident(columns[0].schema),
                quote_ident(columns[0].table)
            ),
            &text_params(&params),
        )
        .await?;
    Ok((0..columns.len())
        .map(|i| counts.get::<_, i64>(i) > 0)
        .collect())
}

/// Search the columns the probe found anything in.
async fn search_columns(
    tx: &Transaction<'_>,
    columns: &[Column<'_>],
    hits: &[bool],
    key: &Key,
) -> Result<Searched, tokio_postgres::Error> {
    let mut searched = Searched::default();
    for (column, _) in columns.iter().zip(hits).filter(|(_, hit)| **hit) {
        let (places, more, too_long) = column.scan(tx, key).await?;
        if places.is_empty() && more {
            searched.sampled.push(column.column.to_owned());
        }
        if too_long > 0 {
            searched.too_long.push((column.column.to_owned(), too_long));
        }
        searched.found.extend(places);
    }
    Ok(searched)
}

/// What searching one table found, the columns it could only sample, and
/// how many candidates of each column were too long to try.
#[derive(Default)]
struct Searched {
    found: Vec<DiscoveredColumn>,
    sampled: Vec<String>,
    too_long: Vec<(String, u64)>,
}

/// One column outside the registry (or partly in it), being searched.
struct Column<'a> {
    schema: &'a str,
    table: &'a str,
    column: &'a str,
    /// Members of a jsonb column removed before searching.
    strip: Vec<&'a str>,
    /// Registry locations in this column: their cells are not "outside".
    registered: Vec<&'a Location>,
    own_aad: String,
    constants: &'a [&'a str],
}

impl<'a> Column<'a> {
    /// The column's text as searched: `"col"::text`, or for a jsonb column
    /// with members to leave out the column without them, numbering
    /// parameters after `next` and appending their values to `params`.
    /// Only an object loses members: `-` on a jsonb scalar (a JSON `null`
    /// the backend may hold) is an error, and on an array it would drop
    /// matching string elements.
    fn searched(&self, next: &mut usize, params: &mut Vec<&'a str>) -> String {
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

    /// The places in this column that hold values opening with `key`, and
    /// whether there were more candidates than were tried.
    ///
    /// The server cuts the candidates out of each value (the whole value,
    /// or each string of a JSON document that looks sealed) and sends only
    /// those, a budget of bytes at a time: an imported OpenAPI document of
    /// many megabytes costs what its sealed-looking strings cost, never
    /// itself. Only a value in which a candidate opens is read whole, once,
    /// to learn where in the document that string is.
    async fn scan(
        &self,
        tx: &Transaction<'_>,
        key: &Key,
    ) -> Result<(Vec<DiscoveredColumn>, bool, u64), tokio_postgres::Error> {
        let mut next = 0;
        let mut params: Vec<&str> = Vec::new();
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
        params.push(JSON_STRING_LOOKS_SEALED);
        let limit_text = MAX_CANDIDATE_BYTES.to_string();
        params.push(&limit_text);
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
            &text_params(&params),
        )
        .await?;
        let mut opened: BTreeMap<(u32, Tid), Vec<bool>> = BTreeMap::new();
        let (mut tried, mut too_long, mut more) = (0usize, 0u64, false);
        let mut fetch = FIRST_FETCH;
        loop {
            // Past the first batch that opened, or the cap, one more row
            // only says whether there were more.
            let enough = !opened.is_empty() || tried >= CANDIDATES_PER_COLUMN;
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
                more = true;
                break;
            }
            let mut bytes = 0;
            for row in &rows {
                tried += 1;
                let candidate = row.try_get::<_, Option<&str>>(2 + self.registered.len());
                let Ok(Some(candidate)) = candidate else {
                    // Longer than any value this searches, or not UTF-8,
                    // which no sealed value the backend reads is.
                    too_long += u64::from(matches!(candidate, Ok(None)));
                    continue;
                };
                bytes += candidate.len();
                if self.opens(&candidate.replace("\\/", "/"), key).is_some() {
                    let flags = (0..self.registered.len()).map(|i| row.get(2 + i)).collect();
                    opened.insert((row.get(0), row.get(1)), flags);
                }
            }
            // As many as the budget holds, from what the last batch weighed.
            let each = (bytes / rows.len()).max(1);
            fetch = (CANDIDATE_BUDGET_BYTES / each).clamp(1, MAX_FETCH);
        }
        tx.batch_execute(&format!("CLOSE {CURSOR}")).await?;
        let mut matches: BTreeMap<(Option<String>, Option<String>), u64> = BTreeMap::new();
        for ((table, ctid), applies) in &opened {
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
                        text_params(&params[..next]),
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
        let places = matches
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
            .collect();
        Ok((places, more, too_long))
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
        let constants = self
            .constants
            .iter()
            .copied()
            .chain([self.own_aad.as_str()]);
        std::iter::once(None)
            .chain(constants.map(Some))
            .find(|aad| envelope::open(key, value, aad.unwrap_or("").as_bytes()).is_ok())
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
