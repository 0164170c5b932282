//! The rotation itself, and the read-only verify that shares its scan.
//!
//! Everything that writes happens in one transaction on one connection:
//! take an advisory lock (two rotations never interleave), check the
//! registry against the catalog, look outside it for ciphertext (on a
//! second connection, before any table lock), lock every table that holds a
//! location against writers (readers still read), stream each table through
//! the pipeline, and commit only if every value made it. Any error — or the
//! process dying — leaves the transaction uncommitted, and PostgreSQL rolls
//! it back.

mod catalog;
mod dberror;
mod discovery;
mod examine;
mod migrations;
mod plan;
mod scan;
mod tid;

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::connection::ConnectionTarget;
use crate::error::{Error, LockKind, Result};
use crate::key::{Key, KeyPair, Warning};
use crate::locations::{Location, Registry};
use crate::report::{
    self, DiscoveredColumn, Findings, LocationReport, Migrations, RotationReport, VerifyReport,
};
use crate::session::session_settings;

use dberror::{commit_error, db_error, lock_error};
use examine::Mode;
use plan::TablePlan;
use scan::Scan;
pub use scan::{Progress, ProgressFn};

/// An arbitrary constant: every keyrotate process takes this advisory lock,
/// whatever it rotates.
const ADVISORY_LOCK_ID: i64 = 0x6b65_7972_6f74_6174; // "keyrotat"

pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_BATCH_SIZE: usize = 2000;

#[derive(Clone, Debug)]
pub struct RotateOptions {
    /// Do everything but write, then roll back; report every failure.
    pub dry_run: bool,
    /// The locations: the defaults plus the operator's.
    pub registry: Registry,
    /// Longest wait for the advisory and table locks.
    pub lock_timeout: Duration,
    /// Look outside the registry for ciphertext under the old key.
    pub discover: bool,
    /// Rotate even though discovery found ciphertext outside the registry,
    /// leaving it on the old key.
    pub allow_unregistered: bool,
    /// Rows fetched and written per round trip.
    pub batch_size: usize,
}

impl Default for RotateOptions {
    fn default() -> Self {
        RotateOptions {
            dry_run: false,
            registry: Registry::defaults(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            discover: true,
            allow_unregistered: false,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub registry: Registry,
    pub discover: bool,
    pub batch_size: usize,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            registry: Registry::defaults(),
            discover: true,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// Re-encrypt every registry value from `keys.old` to `keys.new`.
pub async fn rotate(
    keys: Arc<KeyPair>,
    target: &ConnectionTarget,
    options: &RotateOptions,
    progress: ProgressFn<'_>,
) -> Result<RotationReport> {
    let run = Checked::new(
        &options.registry,
        target,
        options.batch_size,
        options.lock_timeout,
    )?;
    let mut client = target.connect().await?;
    let tx = client.transaction().await.map_err(db_error)?;
    tx.batch_execute(&session_settings(run.lock_ms, true))
        .await
        .map_err(db_error)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&ADVISORY_LOCK_ID])
        .await
        .map_err(|e| lock_error(e, LockKind::Rotation))?;

    let mut findings = Findings {
        warnings: keys.warnings.clone(),
        ..Findings::default()
    };
    let write = !options.dry_run;
    let survey = Survey::take(
        &tx,
        target,
        &options.registry,
        &run.locations,
        options.discover.then_some(&keys.old),
        run.lock_ms,
        &mut findings,
    )
    .await?;
    if let Some(first) = survey.discovered.first() {
        if options.allow_unregistered || !write {
            findings.warnings.extend(survey.discovered.iter().map(|d| Warning {
                code: "WARN_UNREGISTERED_CIPHERTEXT",
                message: format!(
                    "{} is not in the registry but holds values that open with the old key; {}",
                    d.place,
                    if write {
                        "they were left on the old key, as asked"
                    } else {
                        "a rotation would refuse to run (add the location with --columns-file, or accept leaving it behind)"
                    }
                ),
            }));
        } else {
            return Err(Error::UnregisteredCiphertext {
                place: Box::new(first.place.clone()),
                more: survey.discovered.len() - 1,
            });
        }
    }
    // Only a writing rotation locks: a dry run, like verify, must be safe to
    // run next to a live backend without making writers wait.
    if write {
        lock_tables(&tx, &survey.plans).await?;
    }
    let mode = Mode::Rotate {
        keys: Arc::clone(&keys),
        write,
    };
    let mut scan = Scan::new(mode, run.batch_size, progress);
    let locations_report = survey
        .scan(&mut scan, &tx, &run.locations, &mut findings)
        .await?;
    if write {
        scan.finish()?;
        tx.commit().await.map_err(commit_error)?;
    } else {
        tx.rollback().await.map_err(db_error)?;
    }

    let sum = |f: fn(&LocationReport) -> u64| locations_report.iter().map(f).sum::<u64>();
    let tables = report::table_count(&locations_report);
    Ok(RotationReport {
        dry_run: options.dry_run,
        committed: write,
        rows_reencrypted: scan.rows_reencrypted,
        values_reencrypted: sum(|l| l.reencrypted),
        already_on_new_key: sum(|l| l.already_on_new_key),
        empty: sum(|l| l.empty),
        tables,
        summary: report::rotation_summary(scan.rows_reencrypted, tables),
        old_key_matches: scan.key_failures == 0 || scan.opened_with_old > 0,
        locations: locations_report,
        migrations: survey.migrations,
        findings: Findings {
            discovered: survey.discovered,
            ..findings
        },
        duration_ms: elapsed_ms(run.started),
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
    let run = Checked::new(
        &options.registry,
        target,
        options.batch_size,
        DEFAULT_LOCK_TIMEOUT,
    )?;
    let mut client = target.connect().await?;
    let tx = snapshot(&mut client, run.lock_ms).await?;

    let mut findings = Findings {
        warnings,
        ..Findings::default()
    };
    let survey = Survey::take(
        &tx,
        target,
        &options.registry,
        &run.locations,
        options.discover.then_some(&key),
        run.lock_ms,
        &mut findings,
    )
    .await?;
    let mut scan = Scan::new(
        Mode::Verify {
            key: Arc::clone(&key),
        },
        run.batch_size,
        progress,
    );
    let locations_report = survey
        .scan(&mut scan, &tx, &run.locations, &mut findings)
        .await?;
    tx.rollback().await.map_err(db_error)?;

    let values_verified = locations_report.iter().map(|l| l.already_on_new_key).sum();
    let tables = report::table_count(&locations_report);
    Ok(VerifyReport {
        ok: findings.failure_count == 0 && survey.discovered.is_empty(),
        values_verified,
        empty: locations_report.iter().map(|l| l.empty).sum(),
        tables,
        summary: report::verify_summary(values_verified, tables, findings.failure_count),
        locations: locations_report,
        migrations: survey.migrations,
        findings: Findings {
            discovered: survey.discovered,
            ..findings
        },
        duration_ms: elapsed_ms(run.started),
        key_fingerprint: key.fingerprint().to_owned(),
        database: target.describe(),
    })
}

/// What rotate and verify learn before they scan: the release, the
/// locations that exist, and ciphertext outside the registry.
struct Survey {
    plans: Vec<TablePlan>,
    absent: Vec<LocationReport>,
    migrations: Migrations,
    discovered: Vec<DiscoveredColumn>,
}

impl Survey {
    async fn take(
        tx: &Transaction<'_>,
        target: &ConnectionTarget,
        registry: &Registry,
        locations: &[Location],
        discover_with: Option<&Key>,
        lock_ms: u128,
        findings: &mut Findings,
    ) -> Result<Survey> {
        let migrations =
            migrations::read(tx, target.schema(), &registry.migrations, findings).await?;
        let resolved = catalog::resolve(tx, locations, findings).await?;
        let discovered = match discover_with {
            Some(key) => discovery::discover(target, key, locations, lock_ms, findings).await?,
            None => Vec::new(),
        };
        findings.notices.extend_from_slice(target.notices());
        for absent in &resolved.absent {
            findings.notices.push(format!(
                "{}.{}.{}{} does not exist in this database; skipped",
                absent.schema,
                absent.table,
                absent.column,
                absent
                    .member
                    .as_ref()
                    .map(|m| format!(" member {m:?}"))
                    .unwrap_or_default()
            ));
        }
        Ok(Survey {
            plans: resolved.plans,
            absent: resolved.absent,
            migrations,
            discovered,
        })
    }

    /// Scan every table, and report every location in registry order.
    async fn scan(
        &self,
        scan: &mut Scan<'_>,
        tx: &Transaction<'_>,
        locations: &[Location],
        findings: &mut Findings,
    ) -> Result<Vec<LocationReport>> {
        let mut reports = self.absent.clone();
        for plan in &self.plans {
            reports.extend(scan.table(tx, plan, findings).await?);
        }
        let position = |r: &LocationReport| locations.iter().position(|l| r.is_for(l));
        reports.sort_by_key(|r| position(r));
        Ok(reports)
    }
}

/// A read-only transaction on one snapshot of the whole database: what
/// verify and discovery read, without taking a lock any writer waits for.
async fn snapshot(client: &mut Client, lock_ms: u128) -> Result<Transaction<'_>> {
    let tx = client
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(db_error)?;
    tx.batch_execute(&session_settings(lock_ms, false))
        .await
        .map_err(db_error)?;
    Ok(tx)
}

/// EXCLUSIVE blocks every writer (and a second rotation) but not plain
/// SELECTs, so the backend keeps serving reads while its OAuth refresher
/// waits. One statement, sorted names: no lock-order deadlocks.
async fn lock_tables(tx: &Transaction<'_>, plans: &[TablePlan]) -> Result<()> {
    let mut tables: Vec<String> = plans.iter().map(TablePlan::qualified).collect();
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return Ok(());
    }
    tx.batch_execute(&format!(
        "LOCK TABLE {} IN EXCLUSIVE MODE",
        tables.join(", ")
    ))
    .await
    .map_err(|e| lock_error(e, LockKind::Tables))
}

/// What rotate and verify check before they connect anywhere.
struct Checked {
    started: Instant,
    batch_size: i32,
    lock_ms: u128,
    locations: Vec<Location>,
}

impl Checked {
    fn new(
        registry: &Registry,
        target: &ConnectionTarget,
        batch_size: usize,
        lock_timeout: Duration,
    ) -> Result<Self> {
        Ok(Checked {
            started: Instant::now(),
            batch_size: check_batch_size(batch_size)?,
            lock_ms: lock_timeout_ms(lock_timeout)?,
            locations: registry.resolve(target.schema())?,
        })
    }
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
