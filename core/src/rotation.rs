//! The rotation itself, and the read-only verify that shares its scan.
//!
//! Everything happens in one transaction on one connection: take an advisory
//! lock (two rotations never interleave), lock the registry's tables against
//! writers (readers still read), stream each column through a portal,
//! re-encrypt, write back in batches, and commit only if every value made it.
//! Any error — or the process dying — leaves the transaction uncommitted, and
//! PostgreSQL rolls it back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{BufMut, BytesMut};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::{IsolationLevel, Row, Transaction};

use crate::columns::{self, ColumnRef, Origin, RegisteredColumn};
use crate::connection::ConnectionTarget;
use crate::envelope::{self, OpenError};
use crate::error::{Error, Location, Result};
use crate::ident::quote_ident;
use crate::key::{Key, KeyPair, Warning};
use crate::report::{
    self, ColumnReport, ColumnStatus, DiscoveredColumn, Failure, Findings, RotationReport,
    VerifyReport,
};
use crate::session::session_settings;

/// An arbitrary constant: every keyrotate process takes this advisory lock,
/// whatever columns it rotates.
const ADVISORY_LOCK_ID: i64 = 0x6b65_7972_6f74_6174; // "keyrotat"

pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BATCH_SIZE: usize = 2000;

/// How often, at most, progress is reported.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

/// Discovery tries at most this many candidate values per unregistered
/// column, in batches, stopping at the first that opens: enough to see past
/// a settings table full of random base64 tokens, and cheap (an attempt
/// costs well under a microsecond). The server still filters the whole
/// column to find candidates, which is why discovery runs before the locks.
const DISCOVERY_CANDIDATES: usize = 20_000;
const DISCOVERY_BATCH: i32 = 500;

#[derive(Clone, Debug)]
pub struct RotateOptions {
    /// Do everything but write, then roll back; report every failure.
    pub dry_run: bool,
    /// Columns beyond the defaults.
    pub columns: Vec<ColumnRef>,
    /// Longest wait for the advisory and table locks.
    pub lock_timeout: Duration,
    /// Scan unregistered text columns for ciphertext under the old key.
    pub discover: bool,
    /// Rows fetched and written per round trip.
    pub batch_size: usize,
}

impl Default for RotateOptions {
    fn default() -> Self {
        RotateOptions {
            dry_run: false,
            columns: Vec::new(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            discover: true,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub columns: Vec<ColumnRef>,
    pub discover: bool,
    pub batch_size: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            columns: Vec::new(),
            discover: true,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// Rows done out of rows to examine in one column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Progress {
    pub schema: String,
    pub table: String,
    pub column: String,
    pub done: u64,
    pub total: u64,
}

pub type ProgressFn<'a> = &'a (dyn Fn(&Progress) + Sync);

/// What a scan does with each value. Shared with the crypto worker thread.
#[derive(Clone)]
enum Mode {
    Rotate { keys: Arc<KeyPair>, write: bool },
    Verify { key: Arc<Key> },
}

impl Mode {
    /// Rotations stop at the first bad value; dry runs and verifies list them all.
    fn collects_failures(&self) -> bool {
        !matches!(self, Mode::Rotate { write: true, .. })
    }
}

/// A registry column that exists in this database.
struct Resolved {
    column: ColumnRef,
    schema: String,
}

impl Resolved {
    fn table_sql(&self) -> String {
        self.column.qualified_table(&self.schema)
    }

    fn location(&self, primary_key: &str) -> Location {
        Location {
            schema: self.schema.clone(),
            table: self.column.table.clone(),
            column: self.column.column.clone(),
            primary_key: primary_key.to_owned(),
        }
    }

    fn report(&self) -> ColumnReport {
        ColumnReport::new(
            &self.schema,
            &self.column.table,
            &self.column.primary_key,
            &self.column.column,
            ColumnStatus::Processed,
        )
    }
}

/// Re-encrypt every registry value from `keys.old` to `keys.new`.
pub async fn rotate(
    keys: Arc<KeyPair>,
    target: &ConnectionTarget,
    options: &RotateOptions,
    progress: ProgressFn<'_>,
) -> Result<RotationReport> {
    let started = Instant::now();
    let batch_size = check_batch_size(options.batch_size)?;
    let lock_ms = lock_timeout_ms(options.lock_timeout)?;
    let mut client = target.connect().await?;
    let tx = client.transaction().await.map_err(db_error)?;

    tx.batch_execute(&session_settings(lock_ms, true))
        .await
        .map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADVISORY_LOCK_ID])
        .await
        .map_err(|e| lock_error(e, "another keyrotate run holds the rotation lock"))?;

    let mut findings = Findings {
        warnings: keys.warnings.clone(),
        ..Findings::default()
    };
    let mode = Mode::Rotate {
        keys: Arc::clone(&keys),
        write: !options.dry_run,
    };
    let columns = Scan::new(mode, batch_size, progress)
        .registry(
            &tx,
            target,
            &options.columns,
            options.discover,
            &mut findings,
        )
        .await?;
    for d in &findings.discovered {
        findings.warnings.push(Warning {
            code: "WARN_UNREGISTERED_CIPHERTEXT",
            message: format!(
                "{}.{}.{} is not in the registry but holds values that open with the old key; they were NOT rotated. Add it with --column {}.{}.<primaryKey>.{} and run again",
                d.schema, d.table, d.column, d.schema, d.table, d.column
            ),
        });
    }

    let committed = if options.dry_run {
        tx.rollback().await.map_err(db_error)?;
        false
    } else {
        tx.commit().await.map_err(commit_error)?;
        true
    };

    let rows_reencrypted = columns.iter().map(|c| c.reencrypted).sum();
    let tables = report::table_count(&columns);
    Ok(RotationReport {
        dry_run: options.dry_run,
        committed,
        rows_reencrypted,
        already_on_new_key: columns.iter().map(|c| c.already_on_new_key).sum(),
        empty: columns.iter().map(|c| c.empty).sum(),
        tables,
        summary: report::rotation_summary(rows_reencrypted, tables),
        columns,
        findings,
        duration_ms: elapsed_ms(started),
        old_key_fingerprint: keys.old.fingerprint().to_owned(),
        new_key_fingerprint: keys.new.fingerprint().to_owned(),
        database: target.describe(),
    })
}

/// Check that every registry value opens with `key`, in one read-only
/// snapshot, without blocking anyone.
pub async fn verify(
    key: Arc<Key>,
    warnings: Vec<Warning>,
    target: &ConnectionTarget,
    options: &VerifyOptions,
    progress: ProgressFn<'_>,
) -> Result<VerifyReport> {
    let started = Instant::now();
    let batch_size = check_batch_size(options.batch_size)?;
    let mut client = target.connect().await?;
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db_error)?;
    tx.batch_execute(&session_settings(
        lock_timeout_ms(DEFAULT_LOCK_TIMEOUT)?,
        false,
    ))
    .await
    .map_err(db_error)?;

    let mut findings = Findings {
        warnings,
        ..Findings::default()
    };
    let mode = Mode::Verify {
        key: Arc::clone(&key),
    };
    let columns = Scan::new(mode, batch_size, progress)
        .registry(
            &tx,
            target,
            &options.columns,
            options.discover,
            &mut findings,
        )
        .await?;
    tx.rollback().await.map_err(db_error)?;

    let values_verified = columns.iter().map(|c| c.already_on_new_key).sum();
    let tables = report::table_count(&columns);
    Ok(VerifyReport {
        ok: findings.failure_count == 0 && findings.discovered.is_empty(),
        values_verified,
        empty: columns.iter().map(|c| c.empty).sum(),
        tables,
        summary: report::verify_summary(values_verified, tables, findings.failure_count),
        columns,
        findings,
        duration_ms: elapsed_ms(started),
        key_fingerprint: key.fingerprint().to_owned(),
        database: target.describe(),
    })
}

fn check_batch_size(batch_size: usize) -> Result<i32> {
    i32::try_from(batch_size)
        .ok()
        .filter(|b| (1..=100_000).contains(b))
        .ok_or_else(|| Error::invalid_argument("batch size must be between 1 and 100000"))
}

fn lock_timeout_ms(timeout: Duration) -> Result<u128> {
    let ms = timeout.as_millis();
    // 0 would mean "wait forever" to PostgreSQL: a hung rotation holding
    // locks is exactly what the timeout exists to prevent.
    if ms == 0 || ms > i32::MAX as u128 {
        return Err(Error::invalid_argument(
            "lock timeout must be between 1 ms and about 24 days",
        ));
    }
    Ok(ms)
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn note_absent(columns: &[ColumnReport], findings: &mut Findings) {
    for c in columns.iter().filter(|c| c.status == ColumnStatus::Absent) {
        findings.notices.push(format!(
            "{}.{}.{} does not exist in this database; skipped",
            c.schema, c.table, c.column
        ));
    }
}

/// Split the registry into columns that exist (and are text) and reports for
/// defaults that do not. An explicit column that is missing is an error.
async fn resolve(
    client: &Transaction<'_>,
    registry: &[RegisteredColumn],
    default_schema: &str,
    findings: &mut Findings,
) -> Result<(Vec<Resolved>, Vec<ColumnReport>)> {
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for entry in registry {
        let c = &entry.column;
        let schema = c.schema_or(default_schema).to_owned();
        let row = client
            .query_opt(
                "SELECT format_type(col.atttypid, col.atttypmod), \
                        col.atttypid IN ('text'::regtype, 'varchar'::regtype), \
                        pk.attnum IS NOT NULL, \
                        t.relkind = 'p' OR t.relhassubclass, \
                        (SELECT count(*) FROM pg_trigger tg WHERE tg.tgrelid = t.oid \
                           AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'), \
                        EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = t.oid \
                           AND i.indisunique AND i.indnkeyatts = 1 AND i.indkey[0] = pk.attnum) \
                 FROM pg_class t \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 LEFT JOIN pg_attribute col ON col.attrelid = t.oid AND col.attname = $3 \
                      AND col.attnum > 0 AND NOT col.attisdropped \
                 LEFT JOIN pg_attribute pk ON pk.attrelid = t.oid AND pk.attname = $4 \
                      AND pk.attnum > 0 AND NOT pk.attisdropped \
                 WHERE n.nspname = $1 AND t.relname = $2 AND t.relkind IN ('r', 'p')",
                &[&schema, &c.table, &c.column, &c.primary_key],
            )
            .await
            .map_err(db_error)?;
        let (column_type, is_text, has_pk, split, triggers, unique_pk) = match &row {
            Some(r) => (
                r.get::<_, Option<String>>(0),
                r.get::<_, Option<bool>>(1).unwrap_or(false),
                r.get::<_, bool>(2),
                r.get::<_, bool>(3),
                r.get::<_, i64>(4),
                r.get::<_, bool>(5),
            ),
            None => (None, false, false, false, 0, false),
        };
        let name = format!("{schema}.{}.{}", c.table, c.column);
        if column_type.is_some() && triggers > 0 {
            findings.warnings.push(Warning {
                code: "WARN_TABLE_TRIGGERS",
                message: format!(
                    "{schema}.{} has {triggers} user trigger(s); they fire on the rotation's UPDATE and may change other columns",
                    c.table
                ),
            });
        }
        // Writes go by ctid, so this is about names only: reports and errors
        // name rows by this column, which had better identify them, and not
        // be a secret itself.
        if column_type.is_some() && has_pk && !unique_pk {
            findings.warnings.push(Warning {
                code: "WARN_PRIMARY_KEY_NOT_UNIQUE",
                message: format!(
                    "{schema}.{}.{} has no unique index: reports and errors name rows by it, so name a unique, non-secret column",
                    c.table, c.primary_key
                ),
            });
        }
        match (column_type, entry.origin) {
            // Rows are written back by ctid, which names a row only within
            // one physical table: across partitions or child tables it would
            // write one row's credential into another.
            (Some(_), _) if split => {
                return Err(Error::ColumnNotFound {
                    reason: format!(
                        "{schema}.{} is partitioned or has child tables; register each partition or child table as its own column instead",
                        c.table
                    ),
                })
            }
            (Some(ty), _) if !is_text => {
                return Err(Error::ColumnNotFound {
                    reason: format!(
                        "{name} is of type {ty}, not text; ciphertext is stored as text"
                    ),
                })
            }
            (Some(_), _) if !has_pk => {
                return Err(Error::ColumnNotFound {
                    reason: format!(
                        "{schema}.{} has no column {:?} to identify rows by",
                        c.table, c.primary_key
                    ),
                })
            }
            (Some(_), _) => present.push(Resolved {
                column: c.clone(),
                schema,
            }),
            (None, Origin::Core) => {
                return Err(Error::ColumnNotFound {
                    reason: format!(
                        "{name} does not exist: this is not an AnythingMCP database, or not its schema (check the database name and ?schema=)"
                    ),
                })
            }
            (None, Origin::Legacy) => absent.push(ColumnReport::new(
                &schema,
                &c.table,
                &c.primary_key,
                &c.column,
                ColumnStatus::Absent,
            )),
            (None, Origin::Explicit) => {
                return Err(Error::ColumnNotFound {
                    reason: format!(
                        "column {name} does not exist (check the spelling and the schema)"
                    ),
                })
            }
        }
    }
    Ok((present, absent))
}

/// EXCLUSIVE blocks every writer (and a second rotation) but not plain
/// SELECTs, so the backend keeps serving reads while its OAuth refresher
/// waits. One statement, sorted names: no lock-order deadlocks.
async fn lock_tables(client: &Transaction<'_>, present: &[Resolved]) -> Result<()> {
    let mut tables: Vec<String> = present.iter().map(Resolved::table_sql).collect();
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return Ok(());
    }
    client
        .batch_execute(&format!(
            "LOCK TABLE {} IN EXCLUSIVE MODE",
            tables.join(", ")
        ))
        .await
        .map_err(|e| lock_error(e, "a writer or another session holds a lock on the tables"))
}

struct Scan<'a> {
    mode: Mode,
    batch_size: i32,
    progress: ProgressFn<'a>,
    /// The early-fail rule looks only at the very first non-empty value.
    first_value_seen: bool,
}

/// Batches in flight between the reader, the crypto worker and the writer.
/// Two each way keeps PostgreSQL and the crypto busy at the same time while
/// memory stays bounded by a handful of batches, whatever the table size.
const PIPELINE_DEPTH: usize = 2;

/// What the crypto worker made of one batch.
#[derive(Default)]
struct Examined {
    rows: usize,
    /// ctids and new ciphertexts to write, in step.
    ids: Vec<Tid>,
    sealed: Vec<String>,
    already_on_new_key: u64,
    /// (index in batch, primary key, why) of values that did not open.
    failures: Vec<(usize, String, OpenError)>,
}

impl<'a> Scan<'a> {
    fn new(mode: Mode, batch_size: i32, progress: ProgressFn<'a>) -> Self {
        Scan {
            mode,
            batch_size,
            progress,
            first_value_seen: false,
        }
    }

    /// The part rotate and verify share, inside their transaction: resolve
    /// the registry, lock its tables (rotations only), scan every column,
    /// and look outside the registry for ciphertext under the key being
    /// rotated away from (or verified).
    async fn registry(
        &mut self,
        tx: &Transaction<'_>,
        target: &ConnectionTarget,
        extra: &[ColumnRef],
        discover_outside: bool,
        findings: &mut Findings,
    ) -> Result<Vec<ColumnReport>> {
        let registry = columns::registry(extra.to_vec(), target.schema());
        let (present, mut columns) = resolve(tx, &registry, target.schema(), findings).await?;
        // Discovery reads other tables only, so it runs before the locks
        // are taken: on a large schema it must not lengthen the time
        // writers wait.
        if discover_outside {
            let key = match &self.mode {
                Mode::Rotate { keys, .. } => &keys.old,
                Mode::Verify { key } => key,
            };
            findings.discovered = discover(tx, key, &registry, target.schema()).await?;
        }
        // Only a writing rotation locks: a dry run, like verify, must be
        // safe to run next to a live backend without making writers wait.
        if matches!(self.mode, Mode::Rotate { write: true, .. }) {
            lock_tables(tx, &present).await?;
        }
        findings.notices.extend_from_slice(target.notices());
        note_absent(&columns, findings);
        for column in &present {
            columns.push(self.column(tx, column, findings).await?);
        }
        columns.sort_by(|a, b| {
            (&a.schema, &a.table, &a.column).cmp(&(&b.schema, &b.table, &b.column))
        });
        Ok(columns)
    }

    /// Stream one column through a pipeline: the reader fetches batches from
    /// a portal, a blocking worker decrypts and re-seals them, and the writer
    /// sends batched UPDATEs, so the server is rarely idle waiting for the
    /// crypto and the crypto rarely waits for the server.
    async fn column(
        &mut self,
        tx: &Transaction<'_>,
        col: &Resolved,
        findings: &mut Findings,
    ) -> Result<ColumnReport> {
        let table = col.table_sql();
        let value = quote_ident(&col.column.column);
        let pk = quote_ident(&col.column.primary_key);
        let mut report = col.report();

        let counts = tx
            .query_one(
                &format!(
                    "SELECT count(*), count(*) FILTER (WHERE {value} IS NULL OR {value} = '') FROM {table}"
                ),
                &[],
            )
            .await
            .map_err(db_error)?;
        report.rows = counts.get::<_, i64>(0) as u64;
        report.empty = counts.get::<_, i64>(1) as u64;
        let mut tick = Ticker::new(self.progress, col, report.rows - report.empty);

        // Rows are addressed by ctid for the write-back: stable here because
        // our EXCLUSIVE lock keeps every other writer out, and the portal's
        // snapshot never sees the row versions our own UPDATEs create.
        let portal = tx
            .bind(
                &format!(
                    "SELECT ctid, {pk}::text, {value} FROM {table} \
                     WHERE {value} IS NOT NULL AND {value} <> ''"
                ),
                &[],
            )
            .await
            .map_err(db_error)?;
        let update = match self.mode {
            Mode::Rotate { write: true, .. } => Some(
                tx.prepare(&format!(
                    "UPDATE {table} AS t SET {value} = v.val \
                     FROM unnest($1::tid[], $2::text[]) AS v(id, val) WHERE t.ctid = v.id"
                ))
                .await
                .map_err(db_error)?,
            ),
            _ => None,
        };

        let (raw_tx, mut raw_rx) = mpsc::channel::<Vec<Row>>(PIPELINE_DEPTH);
        let (out_tx, mut out_rx) = mpsc::channel::<Result<Examined>>(PIPELINE_DEPTH);
        let mode = self.mode.clone();
        let worker = tokio::task::spawn_blocking(move || {
            while let Some(rows) = raw_rx.blocking_recv() {
                let examined = examine_batch(&mode, &rows);
                let stop = examined.is_err();
                if out_tx.blocking_send(examined).is_err() || stop {
                    break;
                }
            }
        });

        let batch_size = self.batch_size;
        let read = async move {
            loop {
                let rows = tx
                    .query_portal(&portal, batch_size)
                    .await
                    .map_err(db_error)?;
                // A closed channel means the writer stopped on an error,
                // which it reports itself.
                if rows.is_empty() || raw_tx.send(rows).await.is_err() {
                    return Ok::<_, Error>(());
                }
            }
        };
        let write = async {
            let mut done = 0u64;
            while let Some(batch) = out_rx.recv().await {
                let batch = batch?;
                self.settle(col, &batch, &mut report, findings)?;
                check_distinct(&batch.ids)?;
                if let (Some(stmt), false) = (&update, batch.ids.is_empty()) {
                    let updated = tx
                        .execute(stmt, &[&batch.ids, &batch.sealed])
                        .await
                        .map_err(db_error)?;
                    if updated != batch.ids.len() as u64 {
                        return Err(Error::internal(format!(
                            "wrote {updated} rows of a batch of {} in {table}; rolled back",
                            batch.ids.len()
                        )));
                    }
                }
                done += batch.rows as u64;
                tick.advance(done);
            }
            Ok(done)
        };
        // Biased toward the writer: when an UPDATE fails, the reader's next
        // fetch fails too ("current transaction is aborted"), and the
        // operator must see the UPDATE's error, not that echo of it.
        let outcome = tokio::try_join!(biased; write, read);
        // Whatever happened, the worker must see its channels close and end:
        // `write` only borrowed the receiver, and a worker blocked on a full
        // channel after an error would otherwise wait for it forever.
        drop(out_rx);
        worker
            .await
            .map_err(|_| Error::internal("the crypto worker panicked; rolled back"))?;
        let (done, ()) = outcome?;
        tick.finish(done);
        Ok(report)
    }

    /// Apply one examined batch to the counts, enforcing the early-fail rule
    /// and, for a real rotation, stopping at the first bad value.
    fn settle(
        &mut self,
        col: &Resolved,
        batch: &Examined,
        report: &mut ColumnReport,
        findings: &mut Findings,
    ) -> Result<()> {
        for (index, primary_key, why) in &batch.failures {
            let location = col.location(primary_key);
            let first = !self.first_value_seen && *index == 0;
            if first && matches!(self.mode, Mode::Rotate { .. }) && *why != OpenError::NotUtf8 {
                return Err(Error::OldKeyMismatch { location });
            }
            report.failed += 1;
            if !self.mode.collects_failures() {
                return Err(Error::Undecryptable {
                    location,
                    reason: why.describe().to_owned(),
                });
            }
            findings.record_failure(Failure {
                location,
                reason: why.describe().to_owned(),
            });
        }
        self.first_value_seen |= batch.rows > 0;
        report.reencrypted += batch.ids.len() as u64;
        report.already_on_new_key += batch.already_on_new_key;
        Ok(())
    }
}

/// The crypto for one batch: runs on a blocking thread, never on the async
/// runtime, so the connection keeps moving while it works.
fn examine_batch(mode: &Mode, rows: &[Row]) -> Result<Examined> {
    let mut out = Examined {
        rows: rows.len(),
        ..Examined::default()
    };
    for (index, row) in rows.iter().enumerate() {
        let stored: &str = row.get(2);
        let outcome = match mode {
            Mode::Verify { key } => match envelope::open(key, stored) {
                Ok(_) => Outcome::AlreadyOnNewKey,
                Err(e) => Outcome::Failed(e),
            },
            Mode::Rotate { keys, .. } => match envelope::open(&keys.old, stored) {
                Ok(plaintext) => Outcome::Reencrypted(reseal(&keys.new, &plaintext)?),
                // A refreshed token written by a backend that already runs on
                // the new key, or a value from an interrupted earlier run.
                Err(old_err) => match envelope::open(&keys.new, stored) {
                    Ok(_) => Outcome::AlreadyOnNewKey,
                    Err(OpenError::NotUtf8) => Outcome::Failed(OpenError::NotUtf8),
                    Err(_) => Outcome::Failed(old_err),
                },
            },
        };
        match outcome {
            Outcome::Reencrypted(sealed) => {
                out.ids.push(row.get::<_, Tid>(0));
                out.sealed.push(sealed);
            }
            Outcome::AlreadyOnNewKey => out.already_on_new_key += 1,
            Outcome::Failed(why) => {
                let primary_key: Option<&str> = row.get(1);
                out.failures
                    .push((index, primary_key.unwrap_or("NULL").to_owned(), why));
            }
        }
    }
    Ok(out)
}

/// A row's physical address (`ctid`), exchanged in PostgreSQL's binary form
/// (block number, then line pointer) so neither side formats or parses text
/// for every row.
#[derive(Clone, Copy, Debug)]
struct Tid {
    block: u32,
    offset: u16,
}

impl<'a> FromSql<'a> for Tid {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        match raw {
            [b0, b1, b2, b3, o0, o1] => Ok(Tid {
                block: u32::from_be_bytes([*b0, *b1, *b2, *b3]),
                offset: u16::from_be_bytes([*o0, *o1]),
            }),
            _ => Err("a tid is 6 bytes".into()),
        }
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }
}

impl ToSql for Tid {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u32(self.block);
        out.put_u16(self.offset);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TID
    }

    to_sql_checked!();
}

/// A ctid names one row only within one physical table; a repeat means the
/// scan crossed tables (which `resolve` refuses) and an UPDATE would write
/// one row's credential into another. Never write such a batch.
fn check_distinct(ids: &[Tid]) -> Result<()> {
    let mut seen: Vec<(u32, u16)> = ids.iter().map(|t| (t.block, t.offset)).collect();
    seen.sort_unstable();
    if seen.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::internal(
            "two rows of one batch share a ctid; nothing was written",
        ));
    }
    Ok(())
}

/// What became of one value.
enum Outcome {
    Reencrypted(String),
    AlreadyOnNewKey,
    Failed(OpenError),
}

/// Seal under the new key and prove the result opens to the same bytes
/// before it may be written.
fn reseal(new: &Key, plaintext: &[u8]) -> Result<String> {
    let sealed = envelope::seal(new, plaintext);
    match envelope::open(new, &sealed) {
        Ok(check) if check[..] == plaintext[..] => Ok(sealed),
        _ => Err(Error::internal(
            "a value sealed under the new key did not re-open to the same plaintext; rolled back",
        )),
    }
}

/// Throttled progress for one column.
struct Ticker<'a> {
    sink: ProgressFn<'a>,
    progress: Progress,
    last: Instant,
}

impl<'a> Ticker<'a> {
    fn new(sink: ProgressFn<'a>, col: &Resolved, total: u64) -> Self {
        let progress = Progress {
            schema: col.schema.clone(),
            table: col.column.table.clone(),
            column: col.column.column.clone(),
            done: 0,
            total,
        };
        sink(&progress);
        Ticker {
            sink,
            progress,
            last: Instant::now(),
        }
    }

    fn advance(&mut self, done: u64) {
        if self.last.elapsed() >= PROGRESS_INTERVAL {
            self.progress.done = done;
            (self.sink)(&self.progress);
            self.last = Instant::now();
        }
    }

    fn finish(mut self, done: u64) {
        self.progress.done = done;
        (self.sink)(&self.progress);
    }
}

/// Look for ciphertext the registry does not know about: sample values that
/// look like base64 envelopes in every other text column of the schemas in
/// play, and report the columns where any of them opens with `key`.
async fn discover(
    client: &Transaction<'_>,
    key: &Key,
    registry: &[RegisteredColumn],
    default_schema: &str,
) -> Result<Vec<DiscoveredColumn>> {
    let mut schemas: Vec<String> = registry
        .iter()
        .map(|r| r.column.schema_or(default_schema).to_owned())
        .collect();
    schemas.sort();
    schemas.dedup();
    let candidates = client
        .query(
            "SELECT n.nspname, c.relname, a.attname \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p') \
               AND a.attnum > 0 AND NOT a.attisdropped \
               AND has_column_privilege(c.oid, a.attnum, 'SELECT') \
               AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) \
             ORDER BY 1, 2, 3",
            &[&schemas],
        )
        .await
        .map_err(db_error)?;
    let mut found = Vec::new();
    for row in candidates {
        let (schema, table, column): (String, String, String) =
            (row.get(0), row.get(1), row.get(2));
        let registered = registry.iter().any(|r| {
            r.column.schema_or(default_schema) == schema
                && r.column.table == table
                && r.column.column == column
        });
        if registered {
            continue;
        }
        let col = quote_ident(&column);
        // 44 characters is the shortest envelope: IV and tag around an empty
        // plaintext.
        let candidates = client
            .bind(
                &format!(
                    "SELECT {col}::text FROM {}.{} \
                     WHERE length({col}) >= 44 AND {col} ~ '^[A-Za-z0-9+/=_[:space:]-]+$'",
                    quote_ident(&schema),
                    quote_ident(&table)
                ),
                &[],
            )
            .await
            .map_err(db_error)?;
        let mut tried = 0;
        let mut matches = 0u64;
        while matches == 0 && tried < DISCOVERY_CANDIDATES {
            let values = client
                .query_portal(&candidates, DISCOVERY_BATCH)
                .await
                .map_err(db_error)?;
            if values.is_empty() {
                break;
            }
            tried += values.len();
            matches = values
                .iter()
                .filter(|v| envelope::open(key, v.get::<_, &str>(0)).is_ok())
                .count() as u64;
        }
        if matches > 0 {
            found.push(DiscoveredColumn {
                schema,
                table,
                column,
                matches,
            });
        }
    }
    Ok(found)
}

/// Map a driver error to ours, keeping the SQLSTATE and the server's message
/// but never the statement's parameters.
fn db_error(e: tokio_postgres::Error) -> Error {
    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        return lock_error(e, "a conflicting lock is held");
    }
    match e.as_db_error() {
        Some(db) => Error::Db {
            reason: db.message().to_owned(),
            sqlstate: Some(db.code().code().to_owned()),
        },
        None if e.is_closed() => Error::Db {
            reason: "the connection to the server was lost".to_owned(),
            sqlstate: None,
        },
        None => Error::Db {
            reason: e.to_string(),
            sqlstate: None,
        },
    }
}

/// A COMMIT the server answered with an error did not happen; one whose
/// answer never came may have.
fn commit_error(e: tokio_postgres::Error) -> Error {
    if e.as_db_error().is_some() {
        db_error(e)
    } else {
        Error::CommitUnknown {
            reason: e.to_string(),
        }
    }
}

fn lock_error(e: tokio_postgres::Error, what: &str) -> Error {
    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        Error::LockTimeout {
            reason: what.to_owned(),
        }
    } else {
        db_error(e)
    }
}
