//! What a run tells its caller while it works, so that an operator never
//! watches a silent terminal: which phase it is in, whose lock it waits
//! for, and how far each table has come.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{LockHolder, LockKind};

use super::plan::TablePlan;

/// How often, at most, a table's progress is reported.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(200);

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "camelCase")]
pub enum Progress {
    /// Opening the connection to `database` (`host:port/database`).
    Connecting { database: String },
    /// Looking outside the registry for ciphertext: before any table lock.
    Discovering,
    /// Waiting for a lock that `holders` hold; reported about once a second
    /// while the wait lasts.
    #[serde(rename_all = "camelCase")]
    Waiting {
        lock: LockKind,
        holders: Vec<LockHolder>,
        waited_ms: u64,
    },
    /// Rows done out of the rows of one table that hold its locations.
    Scanning(TableProgress),
    /// The COMMIT was sent: from here the run can no longer be cancelled.
    Committing,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TableProgress {
    pub schema: String,
    pub table: String,
    /// The table's locations: `auth_config, env_vars.$enc`.
    pub column: String,
    /// Rows examined so far.
    pub done: u64,
    /// Rows to examine.
    pub total: u64,
}

pub type ProgressFn<'a> = &'a (dyn Fn(&Progress) + Sync);

/// A table's progress, throttled: the first and last report always go out.
pub(super) struct Ticker<'a> {
    sink: ProgressFn<'a>,
    progress: TableProgress,
    last: Instant,
}

impl<'a> Ticker<'a> {
    pub(super) fn new(sink: ProgressFn<'a>, plan: &TablePlan, total: u64) -> Self {
        let progress = TableProgress {
            schema: plan.schema.clone(),
            table: plan.table.clone(),
            column: plan.describe(),
            done: 0,
            total,
        };
        sink(&Progress::Scanning(progress.clone()));
        Ticker {
            sink,
            progress,
            last: Instant::now(),
        }
    }

    pub(super) fn advance(&mut self, done: u64) {
        if self.last.elapsed() >= PROGRESS_INTERVAL {
            self.report(done);
            self.last = Instant::now();
        }
    }

    pub(super) fn finish(mut self, done: u64) {
        self.report(done);
    }

    fn report(&mut self, done: u64) {
        self.progress.done = done;
        (self.sink)(&Progress::Scanning(self.progress.clone()));
    }
}
