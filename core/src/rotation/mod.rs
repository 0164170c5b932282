//! The rotation itself, and the read-only verify that shares its scan, as
//! scripts over named steps: [`start`] (checks, connection, schema,
//! discovery), [`survey`], [`scan`], [`diagnosis`], [`audit`].
//!
//! Everything that writes happens in one transaction on one connection:
//! take an advisory lock (two rotations never interleave), check the
//! registry against the catalog, lock every table that holds a location
//! against writers (readers still read), stream each table through the
//! pipeline, and commit only if every value made it. Discovery looks
//! outside the registry for ciphertext before that transaction begins, on
//! the same connection. Any error — or the process dying — leaves the
//! transaction uncommitted, and PostgreSQL rolls it back.

mod audit;
mod batch;
mod catalog;
mod dberror;
mod diagnosis;
mod discovery;
mod examine;
mod graph;
mod locks;
mod migrations;
mod options;
mod plan;
mod progress;
mod requested;
mod scan;
mod schema;
pub mod session;
mod start;
mod survey;
mod tid;

use std::sync::Arc;
use std::time::Instant;

use tokio_postgres::{Client, IsolationLevel, Transaction};

use crate::connection::ConnectionTarget;
use crate::error::{Error, Result};
use crate::key::{Key, KeyPair};
use crate::report::{
    self, DiscoveredColumn, Findings, KnowledgeGraph, LocationReport, Rejection, RotationReport,
    VerifyReport,
};
use crate::warning::Warning;

pub use audit::Actor;
use dberror::{commit_error, db_error};
use examine::Mode;
pub use graph::GraphKey;
pub use options::{RotateOptions, VerifyOptions, DEFAULT_BATCH_SIZE, DEFAULT_LOCK_TIMEOUT};
pub use progress::{Progress, ProgressFn, TableProgress};
pub use requested::{ColumnArg, Requested};
use scan::Scan;
use start::{cancellable, Checked, Opening, Started};
use survey::Survey;

/// An arbitrary constant: every keyrotate process takes this advisory lock,
/// whatever it rotates.
const ADVISORY_LOCK_ID: i64 = 0x6b65_7972_6f74_6174; // "keyrotat"

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
    let Started {
        run,
        mut client,
        cancel_token,
        mut findings,
        discovered,
    } = Opening {
        registry: &options.registry,
        schema: options.schema.as_deref(),
        batch_size: options.batch_size,
        lock_timeout: options.lock_timeout,
        cancel: &options.cancel,
        discover_with: options.discover.then_some(&keys.old),
        warnings: keys.warnings.clone(),
    }
    .start(target, progress)
    .await?;
    let write = !options.dry_run;
    let tx = begin(&mut client, write).await?;
    let mut scan = Scan::new(
        Mode::Rotate {
            keys: Arc::clone(&keys),
            write,
        },
        run.batch_size,
        progress,
    );
    let rotation = Rotation {
        keys: &keys,
        target,
        options,
        run: &run,
        progress,
    };
    let (survey, locations, graph, audited) = cancellable(
        &options.cancel,
        target,
        &cancel_token,
        rotation.rewrite(&tx, &mut scan, discovered, &mut findings),
    )
    .await?;
    let report = rotation.report(
        &scan,
        Scanned {
            survey,
            locations,
            graph,
            findings,
        },
    );
    let refusal = diagnosis::refusal(&report, scan.key_failures, options.allow_unregistered);
    rotation.conclude(tx, report, refusal, audited).await
}

/// The rotation's transaction. A dry run locks no table, so beside a live
/// backend the tables change while it reads: one snapshot keeps every
/// table's counts (all taken first) true to what its scan then reads.
async fn begin(client: &mut Client, write: bool) -> Result<Transaction<'_>> {
    match write {
        true => client.transaction().await,
        false => {
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .start()
                .await
        }
    }
    .map_err(db_error)
}

/// What a run's scan found, with what it learnt before.
struct Scanned {
    survey: Survey,
    locations: Vec<LocationReport>,
    graph: KnowledgeGraph,
    findings: Findings,
}

/// What the end of a rotation reads: its keys, target, options and checks.
struct Rotation<'a> {
    keys: &'a KeyPair,
    target: &'a ConnectionTarget,
    options: &'a RotateOptions,
    run: &'a Checked,
    progress: ProgressFn<'a>,
}

impl Rotation<'_> {
    /// Inside the transaction, up to its end: settings, the advisory lock,
    /// the survey, the knowledge graph's and discovery's refusals, a
    /// writing rotation's table locks, and every table's scan.
    async fn rewrite(
        &self,
        tx: &Transaction<'_>,
        scan: &mut Scan<'_>,
        discovered: Vec<DiscoveredColumn>,
        findings: &mut Findings,
    ) -> Result<(Survey, Vec<LocationReport>, KnowledgeGraph, bool)> {
        let (run, options, progress) = (self.run, self.options, self.progress);
        let write = !options.dry_run;
        session::apply(tx, run.lock_ms, true).await?;
        locks::acquire(
            tx,
            locks::Target::Advisory(ADVISORY_LOCK_ID),
            run.lock_ms,
            progress,
        )
        .await?;
        let survey = Survey::take(
            tx,
            self.target,
            &options.registry,
            run,
            discovered,
            findings,
        )
        .await?;
        let graph = graph::survey(tx, &run.schema, options.graph_key, findings).await?;
        if let (true, Some(refusal)) = (write, graph::refusal(&graph, &run.schema)) {
            return Err(refusal);
        }
        diagnosis::unregistered(&survey.discovered, options, findings)?;
        // Only a writing rotation locks: a dry run, like verify, must be safe
        // to run next to a live backend without making writers wait.
        if write {
            let tables = survey.tables();
            if !tables.is_empty() {
                locks::acquire(tx, locks::Target::Tables(&tables), run.lock_ms, progress).await?;
            }
            session::prefer_row_lookups(tx).await?;
        }
        let locations = survey.scan(scan, tx, &run.locations, findings).await?;
        if write {
            scan.finish()?;
        }
        let audited = write && audit::present(tx, &run.schema).await?;
        Ok((survey, locations, graph, audited))
    }

    /// The report as the scan left it: not yet committed, no audit event,
    /// no duration.
    fn report(&self, scan: &Scan<'_>, scanned: Scanned) -> RotationReport {
        let Scanned {
            survey,
            locations,
            graph,
            findings,
        } = scanned;
        let dry_run = self.options.dry_run;
        let sum = |f: fn(&LocationReport) -> u64| locations.iter().map(f).sum::<u64>();
        let already_on_new_key = sum(|l| l.already_on_new_key);
        RotationReport {
            dry_run,
            committed: false,
            rows_reencrypted: scan.rows_reencrypted,
            values_reencrypted: sum(|l| l.reencrypted),
            already_on_new_key,
            empty: sum(|l| l.empty),
            tables: scan.tables_reencrypted,
            summary: report::rotation_summary(
                scan.rows_reencrypted,
                scan.tables_reencrypted,
                dry_run,
            ),
            old_key_matches: diagnosis::old_key_matches(scan, already_on_new_key),
            locations,
            migrations: survey.migrations,
            findings: Findings {
                discovered: survey.discovered,
                ..findings
            },
            duration_ms: 0,
            old_key_fingerprint: self.keys.old.fingerprint().to_owned(),
            new_key_fingerprint: self.keys.new.fingerprint().to_owned(),
            database: self.target.describe(),
            target: self.run.identity(self.target),
            knowledge_graph: graph,
            audit_event_id: None,
        }
    }

    /// Commit a writing rotation that nothing refuses, with its audit
    /// event; roll back anything else. A refusal is a rejection carrying
    /// the report.
    async fn conclude(
        &self,
        tx: Transaction<'_>,
        mut report: RotationReport,
        refusal: Option<Error>,
        audited: bool,
    ) -> Result<RotationReport, Rejection> {
        let run = self.run;
        if !self.options.dry_run && refusal.is_none() {
            report.audit_event_id = match audited {
                true => {
                    audit::record(
                        &tx,
                        self.keys,
                        &self.options.actor,
                        run.started,
                        &mut report,
                    )
                    .await?
                }
                false => {
                    report.findings.notices.push(format!(
                        "{}.security_events does not exist in this release: no audit event was written",
                        run.schema
                    ));
                    None
                }
            };
            (self.progress)(&Progress::Committing);
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
    let Started {
        run,
        mut client,
        cancel_token,
        mut findings,
        discovered,
    } = Opening {
        registry: &options.registry,
        schema: options.schema.as_deref(),
        batch_size: options.batch_size,
        lock_timeout: DEFAULT_LOCK_TIMEOUT,
        cancel: &options.cancel,
        discover_with: options.discover.then_some(&key),
        warnings,
    }
    .start(target, progress)
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
        cancellable(&options.cancel, target, &cancel_token, work).await?;
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

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}
