//! Streaming one table through the rotation: a reader fetches batches from
//! a cursor, a blocking worker does the crypto, and the writer settles each
//! batch and sends one UPDATE for it, so the server rarely waits for the
//! crypto and the crypto rarely waits for the server. Memory stays bounded
//! by a handful of batches, whatever the table size.
//!
//! Settling a batch is where the diagnosis happens. "Old key does not
//! match" is said only when not one value anywhere has opened with the old
//! key; otherwise the failing value is named for what it is. The decision
//! never depends on which row PostgreSQL happens to return first.

use futures_util::future::join_all;
use tokio::sync::mpsc;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Row, Transaction};

use crate::error::{Error, Result};
use crate::report::{Failure, Findings, LocationReport, LocationStatus};

use super::batch::{examine_batch, Examined};
use super::dberror::db_error;
use super::examine::Mode;
use super::plan::{text_params, TablePlan};
use super::progress::{ProgressFn, Ticker};
use super::tid::check_distinct;

/// The cursor a table is read through: one at a time, closed after each
/// table, and gone with the transaction.
const CURSOR: &str = "keyrotate_scan";

/// The first batch of a table; each next is twice the last, up to the
/// batch size.
const FIRST_BATCH: i32 = 250;

/// Batches in flight between the reader, the crypto worker and the writer.
const PIPELINE_DEPTH: usize = 2;

pub struct Scan<'a> {
    mode: Mode,
    batch_size: i32,
    progress: ProgressFn<'a>,
    /// Values that opened with the old key so far, in any table.
    pub opened_with_old: u64,
    /// Values that did not open with the key(s) tried (malformed ones not
    /// counted: they say nothing about the key).
    pub key_failures: u64,
    /// A writing rotation's first value that did not open while nothing had
    /// opened with the old key yet: a wrong old key, or a bad value, as the
    /// rest of the data will tell. Nothing is written while it is set.
    suspect: Option<Failure>,
    /// A writing rotation's first malformed value: that value's own error,
    /// unless nothing opens with the old key, which names the key first.
    /// Nothing is written while it is set.
    malformed: Option<Failure>,
    /// Rows rewritten (or, in a dry run, that would be).
    pub rows_reencrypted: u64,
    /// Tables where at least one row was (or would be) rewritten.
    pub tables_reencrypted: u64,
}

impl<'a> Scan<'a> {
    pub fn new(mode: Mode, batch_size: i32, progress: ProgressFn<'a>) -> Self {
        Scan {
            mode,
            batch_size,
            progress,
            opened_with_old: 0,
            key_failures: 0,
            suspect: None,
            malformed: None,
            rows_reencrypted: 0,
            tables_reencrypted: 0,
        }
    }

    fn writing(&self) -> bool {
        matches!(self.mode, Mode::Rotate { write: true, .. })
    }

    /// After every table: a writing rotation that saw values fail and none
    /// open with the old key has the wrong old key; one that saw only a
    /// malformed value fails on that value.
    pub fn finish(&mut self) -> Result<()> {
        match (self.suspect.take(), self.malformed.take()) {
            (Some(failure), _) => Err(Error::OldKeyMismatch {
                location: Box::new(failure.location),
            }),
            (None, Some(failure)) => Err(undecryptable(failure)),
            (None, None) => Ok(()),
        }
    }

    /// A table's counts: its locations' rows and empty values, and the rows
    /// to scan. [`Scan::counts`] asks every table at once, before any is
    /// scanned; they still describe what each scan reads, because a writing
    /// rotation holds its tables' locks by then and a dry run reads one
    /// snapshot throughout. A table with nothing to scan is not read any
    /// further: its other columns (key, AAD) cannot refuse a run that has
    /// nothing of theirs to rewrite.
    async fn count(tx: &Transaction<'_>, plan: &TablePlan) -> Result<Row> {
        let params = plan.params();
        tx.query_typed_one(&plan.count_sql(), &text_params(&params))
            .await
            .map_err(db_error)
    }

    /// Every table's counts in one round trip: the statements go out
    /// pipelined on the one connection, which on a small installation
    /// saves more time than any of them takes. The first error in table
    /// order is the one reported: the statements after a failed one fail
    /// only because the transaction has aborted. A count that fails (a
    /// lock, a privilege) therefore stops the run before any table is
    /// scanned, where it used to stop it at its own table.
    pub async fn counts(tx: &Transaction<'_>, plans: &[TablePlan]) -> Result<Vec<Row>> {
        join_all(plans.iter().map(|p| Self::count(tx, p)))
            .await
            .into_iter()
            .collect()
    }

    pub async fn table(
        &mut self,
        tx: &Transaction<'_>,
        plan: &TablePlan,
        counts: &Row,
        findings: &mut Findings,
    ) -> Result<Vec<LocationReport>> {
        let params = plan.params();
        let params = text_params(&params);
        let (mut reports, total) = counted(plan, counts);
        let mut tick = Ticker::new(self.progress, plan, total);
        if total == 0 {
            tick.finish(0);
            return Ok(reports);
        }
        let rows_before = self.rows_reencrypted;

        // Rows are addressed by ctid for the write-back: stable here because
        // our EXCLUSIVE lock keeps every other writer out, and the cursor's
        // snapshot never sees the row versions our own UPDATEs create. A
        // cursor, not a portal: a portal needs a named statement, and behind
        // a pooler a statement name can clash with another client's.
        tx.query_typed(
            &format!(
                "DECLARE {CURSOR} NO SCROLL CURSOR FOR {}",
                plan.select_sql()
            ),
            &params,
        )
        .await
        .map_err(db_error)?;
        let update = self.writing().then(|| plan.update_sql());

        let (raw_tx, raw_rx) = mpsc::channel::<Vec<Row>>(PIPELINE_DEPTH);
        let (out_tx, mut out_rx) = mpsc::channel::<Result<Examined>>(PIPELINE_DEPTH);
        let worker = spawn_worker(self.mode.clone(), plan.clone(), raw_rx, out_tx);

        let read = read_batches(tx, self.batch_size, raw_tx);
        let write = async {
            let mut done = 0u64;
            while let Some(batch) = out_rx.recv().await {
                let batch = batch?;
                if !self.settle(&batch, &mut reports, findings)? {
                    done += batch.rows as u64;
                    continue;
                }
                check_distinct(&batch.ids)?;
                self.rows_reencrypted += batch.ids.len() as u64;
                if let (Some(sql), false) = (&update, batch.ids.is_empty()) {
                    write_batch(tx, sql, &batch, plan).await?;
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
        tx.batch_execute(&format!("CLOSE {CURSOR}"))
            .await
            .map_err(db_error)?;
        tick.finish(done);
        if self.rows_reencrypted > rows_before {
            self.tables_reencrypted += 1;
        }
        Ok(reports)
    }

    /// Apply one examined batch to the counts and the diagnosis. Returns
    /// whether the batch may be written.
    fn settle(
        &mut self,
        batch: &Examined,
        reports: &mut [LocationReport],
        findings: &mut Findings,
    ) -> Result<bool> {
        self.opened_with_old += batch.opened_with_old;
        for (counts, report) in batch.counts.iter().zip(reports.iter_mut()) {
            report.empty += counts.empty;
            report.reencrypted += counts.reencrypted;
            report.already_on_new_key += counts.already_on_new_key;
            report.failed += counts.failed;
        }
        self.key_failures += batch.failures.iter().filter(|f| !f.malformed).count() as u64;
        if !self.writing() {
            for failure in &batch.failures {
                findings.record_failure(failure.clone());
            }
            return Ok(true);
        }
        // A value in a shape the backend never stores is wrong whatever the
        // key, so it is never taken for a sign of a wrong key; but a wrong
        // key, if that is what the data says, is the first thing to fix.
        if self.suspect.is_none() {
            self.suspect = batch.failures.iter().find(|f| !f.malformed).cloned();
        }
        if self.malformed.is_none() {
            self.malformed = batch.failures.iter().find(|f| f.malformed).cloned();
        }
        if self.opened_with_old > 0 {
            if let Some(failure) = self.suspect.take().or_else(|| self.malformed.take()) {
                return Err(undecryptable(failure));
            }
        }
        Ok(self.suspect.is_none() && self.malformed.is_none())
    }
}

pub(super) fn undecryptable(failure: Failure) -> Error {
    Error::Undecryptable {
        location: Box::new(failure.location),
        reason: failure.reason,
        malformed: failure.malformed,
    }
}

/// A table's location reports as its counts begin them, and the rows to
/// scan.
fn counted(plan: &TablePlan, counts: &Row) -> (Vec<LocationReport>, u64) {
    let reports = plan
        .locations
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let mut r = LocationReport::new(&l.location, LocationStatus::Processed);
            r.rows = counts.get::<_, i64>(2 * i) as u64;
            r.empty = counts.get::<_, i64>(2 * i + 1) as u64;
            r
        })
        .collect();
    (
        reports,
        counts.get::<_, i64>(2 * plan.locations.len()) as u64,
    )
}

/// The crypto worker: examines each batch the reader sends, until the
/// reader is done or a batch fails.
fn spawn_worker(
    mode: Mode,
    plan: TablePlan,
    mut raw_rx: mpsc::Receiver<Vec<Row>>,
    out_tx: mpsc::Sender<Result<Examined>>,
) -> tokio::task::JoinHandle<()> {
    tokio::task::spawn_blocking(move || {
        while let Some(rows) = raw_rx.blocking_recv() {
            let examined = examine_batch(&mode, &plan, &rows);
            let stop = examined.is_err();
            if out_tx.blocking_send(examined).is_err() || stop {
                break;
            }
        }
    })
}

/// Fetch the cursor's rows into the pipeline until none are left. It fills
/// and drains a batch at a time: small first batches start the crypto and
/// the writes sooner, which is most of the time a small table takes.
async fn read_batches(
    tx: &Transaction<'_>,
    batch_size: i32,
    raw_tx: mpsc::Sender<Vec<Row>>,
) -> Result<()> {
    let mut size = FIRST_BATCH.min(batch_size);
    loop {
        let rows = tx
            .query_typed(&format!("FETCH FORWARD {size} FROM {CURSOR}"), &[])
            .await
            .map_err(db_error)?;
        size = (size * 2).min(batch_size);
        // A closed channel means the writer stopped on an error, which it
        // reports itself.
        if rows.is_empty() || raw_tx.send(rows).await.is_err() {
            return Ok(());
        }
    }
}

/// One batch's UPDATE, which must write every row it names.
async fn write_batch(
    tx: &Transaction<'_>,
    sql: &str,
    batch: &Examined,
    plan: &TablePlan,
) -> Result<()> {
    let mut args: Vec<(&(dyn ToSql + Sync), Type)> = vec![(&batch.ids, Type::TID_ARRAY)];
    args.extend(
        batch
            .columns
            .iter()
            .map(|c| (c as &(dyn ToSql + Sync), Type::TEXT_ARRAY)),
    );
    let updated: i64 = tx
        .query_typed_one(sql, &args)
        .await
        .map_err(db_error)?
        .get(0);
    if updated != batch.ids.len() as i64 {
        return Err(Error::internal(format!(
            "wrote {updated} rows of a batch of {} in {}; rolled back",
            batch.ids.len(),
            plan.qualified()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::error::{Unopened, ValueAddress};
    use crate::key::{KeyPair, KeyPolicy};
    use crate::rotation::batch::Counts;

    fn mode(write: bool) -> Mode {
        Mode::Rotate {
            keys: Arc::new(
                KeyPair::parse(
                    b"Zr8qP1vX4mN7bC2kL9sD3fG6hJ0wE5tY",
                    b"aQ3wS5eD7rF9tG1yH3uJ5iK7oL9pZ1xC",
                    KeyPolicy::default(),
                )
                .unwrap(),
            ),
            write,
        }
    }

    fn failure(pk: &str) -> Failure {
        Failure {
            location: ValueAddress {
                schema: "public".into(),
                table: "connectors".into(),
                column: "auth_config".into(),
                member: None,
                primary_key: pk.into(),
            },
            reason: Unopened::Authentication,
            malformed: false,
        }
    }

    /// A batch of `opened` values that opened with the old key and the given
    /// failures, in one location.
    fn batch(opened: u64, failed: &[&str]) -> Examined {
        Examined {
            rows: opened as usize + failed.len(),
            ids: Vec::new(),
            columns: vec![Vec::new()],
            counts: vec![Counts {
                reencrypted: opened,
                failed: failed.len() as u64,
                ..Counts::default()
            }],
            failures: failed.iter().map(|pk| failure(pk)).collect(),
            opened_with_old: opened,
        }
    }

    fn setup() -> (Vec<LocationReport>, Findings) {
        let location = crate::locations::Registry::defaults()
            .resolve("public")
            .unwrap()[0]
            .clone();
        (
            vec![LocationReport::new(&location, LocationStatus::Processed)],
            Findings::default(),
        )
    }

    fn location_of(e: Error) -> (&'static str, String) {
        let code = e.code();
        match e {
            Error::Undecryptable { location, .. } | Error::OldKeyMismatch { location } => {
                (code, location.primary_key)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_bad_first_value_is_that_value_once_the_old_key_is_proven() {
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(true), 10, &|_| {});
        // The physically first value fails: a suspect, and nothing is written.
        assert!(!scan
            .settle(&batch(0, &["c1"]), &mut reports, &mut findings)
            .unwrap());
        // A later value opens with the old key: the old key is right, so the
        // error is the first value's own.
        let e = scan
            .settle(&batch(3, &[]), &mut reports, &mut findings)
            .unwrap_err();
        assert_eq!(location_of(e), ("ERR_UNDECRYPTABLE", "c1".into()));
    }

    /// A batch where the values `malformed` names are malformed.
    fn with_malformed(mut batch: Examined, malformed: &[&str]) -> Examined {
        for f in &mut batch.failures {
            if malformed.contains(&f.location.primary_key.as_str()) {
                f.malformed = true;
                f.reason = Unopened::NotJson;
            }
        }
        batch
    }

    #[test]
    fn a_malformed_value_is_its_own_error_once_the_old_key_is_proven() {
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(true), 10, &|_| {});
        let first = with_malformed(batch(0, &["c1"]), &["c1"]);
        assert!(!scan.settle(&first, &mut reports, &mut findings).unwrap());
        let e = scan
            .settle(&batch(3, &[]), &mut reports, &mut findings)
            .unwrap_err();
        assert!(e.to_string().contains("whatever the key"), "{e}");
        assert_eq!(location_of(e), ("ERR_UNDECRYPTABLE", "c1".into()));
    }

    #[test]
    fn a_malformed_value_alone_is_never_taken_for_a_wrong_key() {
        // Everything else is already on the new key: nothing opens with
        // the old one, yet nothing says the old key is wrong.
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(true), 10, &|_| {});
        let first = with_malformed(batch(0, &["c1"]), &["c1"]);
        assert!(!scan.settle(&first, &mut reports, &mut findings).unwrap());
        let e = scan.finish().unwrap_err();
        assert!(e.to_string().contains("whatever the key"), "{e}");
        assert_eq!(location_of(e), ("ERR_UNDECRYPTABLE", "c1".into()));
        assert_eq!(scan.key_failures, 0);
    }

    #[test]
    fn a_malformed_value_does_not_hide_a_wrong_key() {
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(true), 10, &|_| {});
        let first = with_malformed(batch(0, &["c1", "c2"]), &["c1"]);
        assert!(!scan.settle(&first, &mut reports, &mut findings).unwrap());
        let e = scan.finish().unwrap_err();
        assert_eq!(location_of(e), ("ERR_OLD_KEY_MISMATCH", "c2".into()));
        assert_eq!(scan.key_failures, 1);
    }

    #[test]
    fn nothing_opening_with_the_old_key_is_a_key_mismatch() {
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(true), 10, &|_| {});
        assert!(!scan
            .settle(&batch(0, &["c1", "c2"]), &mut reports, &mut findings)
            .unwrap());
        assert!(!scan
            .settle(&batch(0, &["c3"]), &mut reports, &mut findings)
            .unwrap());
        let e = scan.finish().unwrap_err();
        assert_eq!(location_of(e), ("ERR_OLD_KEY_MISMATCH", "c1".into()));
    }

    #[test]
    fn within_a_batch_the_order_does_not_matter() {
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(true), 10, &|_| {});
        let e = scan
            .settle(&batch(2, &["c9"]), &mut reports, &mut findings)
            .unwrap_err();
        assert_eq!(location_of(e), ("ERR_UNDECRYPTABLE", "c9".into()));
    }

    #[test]
    fn clean_batches_are_written_and_counted() {
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(true), 10, &|_| {});
        assert!(scan
            .settle(&batch(4, &[]), &mut reports, &mut findings)
            .unwrap());
        scan.finish().unwrap();
        assert_eq!((reports[0].reencrypted, scan.opened_with_old), (4, 4));
    }

    #[test]
    fn dry_runs_list_every_failure_and_never_stop() {
        let (mut reports, mut findings) = setup();
        let mut scan = Scan::new(mode(false), 10, &|_| {});
        assert!(scan
            .settle(&batch(0, &["c1", "c2"]), &mut reports, &mut findings)
            .unwrap());
        assert!(scan
            .settle(&batch(1, &["c3"]), &mut reports, &mut findings)
            .unwrap());
        scan.finish().unwrap();
        assert_eq!(findings.failure_count, 3);
        assert_eq!(reports[0].failed, 3);
        let listed: Vec<&str> = findings
            .failures
            .iter()
            .map(|f| f.location.primary_key.as_str())
            .collect();
        assert_eq!(listed, ["c1", "c2", "c3"]);
    }
}
