//! Waiting for locks without leaving the operator in the dark.
//!
//! A run waits in PostgreSQL's lock queue one slice at a time: when a slice
//! ends without the lock, the attempt is rolled back to a savepoint, the
//! sessions holding the lock are looked up and reported, and the run queues
//! again until the lock timeout is spent. The timeout error then names those
//! sessions. It all happens inside the run's one transaction, so it needs no
//! second connection and works through a pooler.

use std::time::{Duration, Instant};

use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use crate::error::{Error, LockHolder, LockKind, Result};

use super::dberror::db_error;
use super::progress::{Progress, ProgressFn};

/// How long one attempt stays in the lock queue before the run looks at who
/// holds the lock. Short enough that an operator hears within a second or
/// two, long enough that a writer's usual millisecond hold never shows.
const SLICE: Duration = Duration::from_millis(1000);

/// What a run locks.
pub(super) enum Target<'a> {
    /// The advisory lock every keyrotate run takes.
    Advisory(i64),
    /// EXCLUSIVE locks on these tables (quoted, qualified names, sorted):
    /// readers still read, writers wait.
    Tables(&'a [String]),
}

impl Target<'_> {
    fn kind(&self) -> LockKind {
        match self {
            Target::Advisory(_) => LockKind::Rotation,
            Target::Tables(_) => LockKind::Tables,
        }
    }

    fn statement(&self) -> String {
        match self {
            Target::Advisory(id) => format!("SELECT pg_catalog.pg_advisory_xact_lock({id})"),
            Target::Tables(tables) => {
                format!("LOCK TABLE {} IN EXCLUSIVE MODE", tables.join(", "))
            }
        }
    }
}

/// Take `target`'s lock within `timeout`, reporting who holds it while the
/// run waits. `timeout_ms` is also the transaction's `lock_timeout`, which is
/// left as it was found.
pub(super) async fn acquire(
    tx: &Transaction<'_>,
    target: Target<'_>,
    timeout_ms: u128,
    progress: ProgressFn<'_>,
) -> Result<()> {
    let started = Instant::now();
    let timeout = Duration::from_millis(timeout_ms.try_into().unwrap_or(u64::MAX));
    let statement = target.statement();
    let mut holders = Vec::new();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(Error::LockTimeout {
                lock: target.kind(),
                holders,
            });
        }
        let slice = left.min(SLICE).as_millis().max(1);
        let attempt = tx
            .batch_execute(&format!(
                "SAVEPOINT keyrotate_lock; SET LOCAL lock_timeout = {slice}; {statement}"
            ))
            .await;
        match attempt {
            Ok(()) => {
                return tx
                    .batch_execute(&format!(
                        "RELEASE SAVEPOINT keyrotate_lock; SET LOCAL lock_timeout = {timeout_ms}"
                    ))
                    .await
                    .map_err(db_error);
            }
            Err(e) if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) => {
                tx.batch_execute("ROLLBACK TO SAVEPOINT keyrotate_lock")
                    .await
                    .map_err(db_error)?;
                holders = holders_of(tx, &target).await?;
                progress(&Progress::Waiting {
                    lock: target.kind(),
                    holders: holders.clone(),
                    waited_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            Err(e) => return Err(db_error(e)),
        }
    }
}

/// The other sessions that hold `target`'s lock, or a lock on its tables
/// that EXCLUSIVE conflicts with (every mode but ACCESS SHARE). Columns a
/// role may not see in `pg_stat_activity` come back empty.
async fn holders_of(tx: &Transaction<'_>, target: &Target<'_>) -> Result<Vec<LockHolder>> {
    let (advisory, tables): (Option<i64>, Vec<&str>) = match target {
        Target::Advisory(id) => (Some(*id), Vec::new()),
        Target::Tables(tables) => (None, tables.iter().map(String::as_str).collect()),
    };
    let rows = tx
        .query_typed(
            "SELECT DISTINCT a.pid, a.usename::text, a.application_name, a.state, \
                    to_char(a.xact_start AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
                    a.xact_start \
             FROM pg_catalog.pg_locks l \
             JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid \
             WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid() \
               AND ((l.locktype = 'advisory' AND l.objsubid = 1 \
                     AND l.classid::bigint = ($1::bigint >> 32) \
                     AND l.objid::bigint = ($1::bigint & 4294967295)) \
                 OR (l.locktype = 'relation' AND l.mode <> 'AccessShareLock' \
                     AND l.relation = ANY($2::text[]::regclass[]))) \
             ORDER BY a.xact_start NULLS LAST, a.pid",
            &[(&advisory, Type::INT8), (&tables, Type::TEXT_ARRAY)],
        )
        .await
        .map_err(db_error)?;
    Ok(rows
        .iter()
        .map(|row| LockHolder {
            pid: row.get(0),
            user: row.get(1),
            application_name: row.get(2),
            state: row.get(3),
            since: row.get(4),
        })
        .collect())
}
