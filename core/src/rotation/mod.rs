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

mod audit;
mod catalog;
mod dberror;
mod diagnosis;
mod discovery;
mod examine;
mod graph;
mod locks;
mod migrations;
mod plan;
mod progress;
mod scan;
mod schema;
pub mod session;
mod tid;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_postgres::{CancelToken, Client, IsolationLevel, Transaction};

use crate::cancel::Cancel;
use crate::connection::{ConnectionTarget, DatabaseIdentity};
use crate::error::{Error, Result};
use crate::key::{Key, KeyPair, Warning};
use crate::locations::{Location, Registry};
use crate::report::{
    self, DiscoveredColumn, Findings, LocationReport, Migrations, Rejection, RotationReport,
    VerifyReport,
};

pub use audit::Actor;
use dberror::{commit_error, db_error};
use examine::Mode;
pub use graph::GraphKey;
use plan::TablePlan;
pub use progress::{Progress, ProgressFn, TableProgress};
use scan::Scan;

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
    /// Raised from outside to stop the run before its COMMIT.
    pub cancel: Cancel,
    /// What keys the knowledge graph's hashes, as the operator says.
    pub graph_key: GraphKey,
    /// Who runs the rotation, for the audit event.
    pub actor: Actor,
    /// The schema to act on, when the caller chooses it over the URL's.
    pub schema: Option<String>,
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
            cancel: Cancel::default(),
            graph_key: GraphKey::default(),
            actor: Actor::default(),
            schema: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct VerifyOptions {
    pub registry: Registry,
    pub discover: bool,
    pub batch_size: usize,
    pub cancel: Cancel,
    pub graph_key: GraphKey,
    pub schema: Option<String>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            registry: Registry::defaults(),
            discover: true,
            batch_size: DEFAULT_BATCH_SIZE,
            cancel: Cancel::default(),
            graph_key: GraphKey::default(),
            schema: None,
        }
    }
}

/// Re-encrypt every registry value from `keys.old` to `keys.new`.
///
/// Succeeds only when the data is on the new key afterwards with something
/// to show for it: a dry run whose real run would be refused, and a run that
/// finds nothing sealed with the old key, are rejections that carry their
/// report.
pub async fn rotate(
    keys: Arc<KeyPair>,
    target: &ConnectionTarget,
    options: &RotateOptions,
    progress: ProgressFn<'_>,
) -> Result<RotationReport, Rejection> {
    let mut run = Checked::new(
        &options.registry,
        target,
        options.batch_size,
        options.lock_timeout,
    )?;
    let cancel = &options.cancel;
    progress(&Progress::Connecting {
        database: target.describe(),
    });
    let mut client = cancel.guard(target.connect()).await?;
    let cancel_token = client.cancel_token();
    let mut findings = Findings {
        warnings: keys.warnings.clone(),
        ..Findings::default()
    };
    run.settle(
        &client,
        options.schema.as_deref(),
        &options.registry,
        &mut findings,
    )
    .await?;
    catalog::check_row_names(&client, &run.locations).await?;
    let discovered = cancellable(
        cancel,
        target,
        &cancel_token,
        discover(
            &mut client,
            options.discover.then_some(&keys.old),
            &run,
            progress,
            &mut findings,
        ),
    )
    .await?;
    let write = !options.dry_run;
    // A dry run locks no table, so beside a live backend the tables change
    // while it reads: one snapshot keeps every table's counts (all taken
    // first) true to what its scan then reads.
    let tx = match write {
        true => client.transaction().await,
        false => {
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .start()
                .await
        }
    }
    .map_err(db_error)?;

    let mut scan = Scan::new(
        Mode::Rotate {
            keys: Arc::clone(&keys),
            write,
        },
        run.batch_size,
        progress,
    );
    let work = async {
        session::apply(&tx, run.lock_ms, true).await?;
        locks::acquire(
            &tx,
            locks::Target::Advisory(ADVISORY_LOCK_ID),
            run.lock_ms,
            progress,
        )
        .await?;
        let survey = Survey::take(
            &tx,
            target,
            &options.registry,
            &run,
            discovered,
            &mut findings,
        )
        .await?;
        let graph = graph::survey(&tx, &run.schema, options.graph_key, &mut findings).await?;
        if let (true, Some(refusal)) = (write, graph::refusal(&graph, &run.schema)) {
            return Err(refusal);
        }
        diagnosis::unregistered(&survey.discovered, options, &mut findings)?;
        // Only a writing rotation locks: a dry run, like verify, must be safe
        // to run next to a live backend without making writers wait.
        if write {
            let tables = survey.tables();
            if !tables.is_empty() {
                locks::acquire(&tx, locks::Target::Tables(&tables), run.lock_ms, progress).await?;
            }
            session::prefer_row_lookups(&tx).await?;
        }
        let locations = survey
            .scan(&mut scan, &tx, &run.locations, &mut findings)
            .await?;
        if write {
            scan.finish()?;
        }
        let audited = write && audit::present(&tx, &run.schema).await?;
        Ok::<_, Error>((survey, locations, graph, audited))
    };
    let (survey, locations_report, graph, audited) =
        cancellable(cancel, target, &cancel_token, work).await?;

    let sum = |f: fn(&LocationReport) -> u64| locations_report.iter().map(f).sum::<u64>();
    let already_on_new_key = sum(|l| l.already_on_new_key);
    let mut report = RotationReport {
        dry_run: options.dry_run,
        committed: false,
        rows_reencrypted: scan.rows_reencrypted,
        values_reencrypted: sum(|l| l.reencrypted),
        already_on_new_key,
        empty: sum(|l| l.empty),
        tables: scan.tables_reencrypted,
        summary: report::rotation_summary(
            scan.rows_reencrypted,
            scan.tables_reencrypted,
            options.dry_run,
        ),
        old_key_matches: diagnosis::old_key_matches(&scan, already_on_new_key),
        locations: locations_report,
        migrations: survey.migrations,
        findings: Findings {
            discovered: survey.discovered,
            ..findings
        },
        duration_ms: 0,
        old_key_fingerprint: keys.old.fingerprint().to_owned(),
        new_key_fingerprint: keys.new.fingerprint().to_owned(),
        database: target.describe(),
        target: run.identity(target),
        knowledge_graph: graph,
        audit_event_id: None,
    };
    let refusal = diagnosis::refusal(&report, scan.key_failures, options.allow_unregistered);
    if write && refusal.is_none() {
        report.audit_event_id = match audited {
            true => audit::record(&tx, &keys, &options.actor, run.started, &mut report).await?,
            false => {
                report.findings.notices.push(format!(
                    "{}.security_events does not exist in this release: no audit event was written",
                    run.schema
                ));
                None
            }
        };
        progress(&Progress::Committing);
        tx.commit().await.map_err(commit_error)?;
        report.committed = true;
    } else {
        tx.rollback().await.map_err(db_error)?;
    }
    report.duration_ms = elapsed_ms(run.started);
    match refusal {
        Some(error) => Err(Rejection {
            error,
            report: Some(Box::new(report)),
        }),
        None => Ok(report),
    }
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
    let mut run = Checked::new(
        &options.registry,
        target,
        options.batch_size,
        DEFAULT_LOCK_TIMEOUT,
    )?;
    let cancel = &options.cancel;
    progress(&Progress::Connecting {
        database: target.describe(),
    });
    let mut client = cancel.guard(target.connect()).await?;
    let cancel_token = client.cancel_token();
    let mut findings = Findings {
        warnings,
        ..Findings::default()
    };
    run.settle(
        &client,
        options.schema.as_deref(),
        &options.registry,
        &mut findings,
    )
    .await?;
    catalog::check_row_names(&client, &run.locations).await?;
    let discovered = cancellable(
        cancel,
        target,
        &cancel_token,
        discover(
            &mut client,
            options.discover.then_some(&key),
            &run,
            progress,
            &mut findings,
        ),
    )
    .await?;
    let tx = session::read_only(&mut client, run.lock_ms).await?;
    let mut scan = Scan::new(
        Mode::Verify {
            key: Arc::clone(&key),
        },
        run.batch_size,
        progress,
    );
    let work = async {
        let survey = Survey::take(
            &tx,
            target,
            &options.registry,
            &run,
            discovered,
            &mut findings,
        )
        .await?;
        let graph = graph::survey(&tx, &run.schema, options.graph_key, &mut findings).await?;
        let locations = survey
            .scan(&mut scan, &tx, &run.locations, &mut findings)
            .await?;
        Ok::<_, Error>((survey, locations, graph))
    };
    let (survey, locations_report, graph) =
        cancellable(cancel, target, &cancel_token, work).await?;
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
        target: run.identity(target),
        knowledge_graph: graph,
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
        run: &Checked,
        discovered: Vec<DiscoveredColumn>,
        findings: &mut Findings,
    ) -> Result<Survey> {
        let migrations = migrations::read(tx, &run.schema, &registry.migrations, findings).await?;
        let resolved = catalog::resolve(tx, &run.locations, findings).await?;
        findings.notices.extend_from_slice(target.notices());
        Ok(Survey {
            plans: resolved.plans,
            absent: resolved.absent,
            migrations,
            discovered,
        })
    }

    /// The tables a writing rotation locks: quoted, sorted, each once, so
    /// that one statement takes them all and no two runs deadlock.
    fn tables(&self) -> Vec<String> {
        let mut tables: Vec<String> = self.plans.iter().map(TablePlan::qualified).collect();
        tables.sort();
        tables.dedup();
        tables
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
        let counts = Scan::counts(tx, &self.plans).await?;
        for (plan, counts) in self.plans.iter().zip(&counts) {
            reports.extend(scan.table(tx, plan, counts, findings).await?);
        }
        let position = |r: &LocationReport| locations.iter().position(|l| r.is_for(l));
        reports.sort_by_key(|r| position(r));
        Ok(reports)
    }
}

/// Look outside the registry with `key` (none: skipped), before the run's
/// own transaction begins and on the same connection.
async fn discover(
    client: &mut Client,
    key: Option<&Key>,
    run: &Checked,
    progress: ProgressFn<'_>,
    findings: &mut Findings,
) -> Result<Vec<DiscoveredColumn>> {
    let Some(key) = key else {
        return Ok(Vec::new());
    };
    progress(&Progress::Discovering);
    discovery::discover(client, key, &run.locations, run.lock_ms, findings).await
}

/// `work` unless the run is cancelled first; then the statement in flight
/// is stopped on the server too, so that its locks go at once.
async fn cancellable<T>(
    cancel: &Cancel,
    target: &ConnectionTarget,
    token: &CancelToken,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let outcome = cancel.guard(work).await;
    if matches!(outcome, Err(Error::Aborted)) {
        target.cancel_query(token.clone()).await;
    }
    outcome
}

/// What rotate and verify check before they connect anywhere.
struct Checked {
    started: Instant,
    batch_size: i32,
    lock_ms: u128,
    /// The schema acted on: the URL's until [`settle`](Self::settle) says.
    schema: String,
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
            schema: target.schema().to_owned(),
            locations: registry.resolve(target.schema())?,
        })
    }

    /// Choose the schema to act on once connected (the URL's may not be
    /// the one the backend reads), and the locations in it.
    async fn settle(
        &mut self,
        client: &Client,
        explicit: Option<&str>,
        registry: &Registry,
        findings: &mut Findings,
    ) -> Result<()> {
        let chosen = schema::settle(client, &self.schema, explicit, registry, findings).await?;
        if chosen != self.schema {
            self.locations = registry.resolve(&chosen)?;
            self.schema = chosen;
        }
        Ok(())
    }

    /// The database acted on, with the schema chosen.
    fn identity(&self, target: &ConnectionTarget) -> DatabaseIdentity {
        DatabaseIdentity {
            schema: self.schema.clone(),
            ..target.identity()
        }
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
