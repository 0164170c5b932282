//! What the crypto worker makes of one batch of rows: each row examined
//! (see [`examine`](super::examine)), the new texts to write and their
//! ctids, and per location what became of its values.

use tokio_postgres::Row;

use crate::error::{Result, ValueAddress};
use crate::report::Failure;

use super::examine::{examine_row, Cell, Mode, NotUtf8, Outcome, RowView};
use super::plan::{TablePlan, COL_CTID, COL_FIRST_VALUE, COL_PK};
use super::tid::Tid;

/// One location's tally within a batch.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Counts {
    pub(super) empty: u64,
    pub(super) reencrypted: u64,
    pub(super) already_on_new_key: u64,
    pub(super) failed: u64,
}

impl Counts {
    fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Empty => self.empty += 1,
            Outcome::Reencrypted => self.reencrypted += 1,
            Outcome::AlreadyOnNewKey => self.already_on_new_key += 1,
            Outcome::Failed(_) | Outcome::Malformed(_) => self.failed += 1,
            Outcome::Null | Outcome::NotApplicable => {}
        }
    }
}

/// What the crypto worker made of one batch.
pub(super) struct Examined {
    pub(super) rows: usize,
    /// ctids to write, and per column the new texts, in step.
    pub(super) ids: Vec<Tid>,
    pub(super) columns: Vec<Vec<Option<String>>>,
    /// Per location, what became of its values.
    pub(super) counts: Vec<Counts>,
    pub(super) failures: Vec<Failure>,
    pub(super) opened_with_old: u64,
}

/// The crypto for one batch: runs on a blocking thread, never on the async
/// runtime, so the connection keeps moving while it works.
pub(super) fn examine_batch(mode: &Mode, plan: &TablePlan, rows: &[Row]) -> Result<Examined> {
    let mut out = Examined {
        rows: rows.len(),
        ids: Vec::new(),
        columns: vec![Vec::new(); plan.columns.len()],
        counts: vec![Counts::default(); plan.locations.len()],
        failures: Vec::new(),
        opened_with_old: 0,
    };
    let first_aad = plan.first_aad();
    let first_flag = plan.first_flag();
    // One view, refilled for every row of the batch.
    let mut view = RowView {
        columns: Vec::with_capacity(plan.columns.len()),
        aad: Vec::with_capacity(plan.aad_columns.len()),
        applies: Vec::with_capacity(plan.locations.len()),
    };
    for row in rows {
        view.columns.clear();
        view.columns
            .extend((0..plan.columns.len()).map(|i| cell(row, COL_FIRST_VALUE + i, plan.raw_text)));
        view.aad.clear();
        view.aad
            .extend((0..plan.aad_columns.len()).map(|i| cell(row, first_aad + i, plan.raw_text)));
        view.applies.clear();
        view.applies
            .extend((0..plan.locations.len()).map(|i| row.get::<_, bool>(first_flag + i)));
        let result = examine_row(mode, plan, &view)?;
        for ((outcome, loc), counts) in result
            .outcomes
            .iter()
            .zip(&plan.locations)
            .zip(out.counts.iter_mut())
        {
            counts.add(outcome);
            match outcome {
                Outcome::Reencrypted => out.opened_with_old += 1,
                Outcome::Failed(why) | Outcome::Malformed(why) => out.failures.push(Failure {
                    location: ValueAddress {
                        schema: plan.schema.clone(),
                        table: plan.table.clone(),
                        column: loc.location.column.clone(),
                        member: loc.location.member.clone(),
                        primary_key: primary_key(row, plan.raw_text),
                    },
                    reason: *why,
                    malformed: matches!(outcome, Outcome::Malformed(_)),
                }),
                _ => {}
            }
        }
        if result.changed() {
            out.ids.push(row.get::<_, Tid>(COL_CTID));
            for (column, value) in out.columns.iter_mut().zip(result.new_columns) {
                column.push(value);
            }
        }
    }
    Ok(out)
}

fn cell(row: &Row, index: usize, raw: bool) -> Cell<'_> {
    if raw {
        return match row.get::<_, Option<&[u8]>>(index) {
            Some(bytes) => std::str::from_utf8(bytes).map(Some).map_err(|_| NotUtf8),
            None => Ok(None),
        };
    }
    row.try_get::<_, Option<&str>>(index).map_err(|_| NotUtf8)
}

/// How reports name a row; the primary key is an identifier, never a secret.
fn primary_key(row: &Row, raw: bool) -> String {
    match cell(row, COL_PK, raw) {
        Ok(Some(pk)) => pk.to_owned(),
        Ok(None) => "NULL".to_owned(),
        Err(NotUtf8) => "(not valid UTF-8)".to_owned(),
    }
}
