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

use futures_util::future::join_all;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use crate::aad::Aad;
use crate::error::{LockKind, Result};
use crate::ident::quote_ident;
use crate::key::Key;
use crate::locations::ResolvedLocation;
use crate::report::{DiscoveredColumn, Findings};

use super::dberror::{db_error, lock_error};
use super::plan::text_params;
use super::session::read_only;

mod catalog;
mod column;

use catalog::{outside_registry, Catalog};
use column::{looks_sealed, Column, CANDIDATES_PER_COLUMN, MAX_CANDIDATE_BYTES};

/// Tables searched per read-only transaction: each holds an ACCESS SHARE
/// lock on its tables (and their indexes) until it ends, and the server's
/// lock table is shared by every session.
const TABLES_PER_TRANSACTION: usize = 50;

pub async fn discover(
    client: &mut Client,
    key: &Key,
    locations: &[ResolvedLocation],
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
