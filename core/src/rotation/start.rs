//! A run's opening, the same for rotate and verify: its options checked
//! before it connects anywhere, the connection, the schema settled, every
//! location's row names checked, and discovery done, all before the run's
//! own transaction begins.

use std::future::Future;
use std::time::{Duration, Instant};

use deadpool_postgres::Object;
use tokio_postgres::{CancelToken, Client};

use crate::cancel::Cancel;
use crate::connection::{ConnectionTarget, DatabaseIdentity};
use crate::error::{Error, Invalid, Result};
use crate::key::Key;
use crate::locations::{Registry, ResolvedLocation};
use crate::report::{DiscoveredColumn, Findings};
use crate::warning::Warning;

use super::catalog;
use super::discovery;
use super::progress::{Progress, ProgressFn};
use super::schema;

/// What a run opens with.
pub(super) struct Opening<'a> {
    pub registry: &'a Registry,
    /// The schema the caller chose over the URL's, if any.
    pub schema: Option<&'a str>,
    pub batch_size: usize,
    pub lock_timeout: Duration,
    pub cancel: &'a Cancel,
    /// The key discovery searches with; none: no discovery.
    pub discover_with: Option<&'a Key>,
    pub warnings: Vec<Warning>,
}

/// A run, opened: connected and surveyed from outside any transaction.
pub(super) struct Started {
    pub run: Checked,
    /// The pool's connection: a `Client` by `Deref`.
    pub client: Object,
    pub cancel_token: CancelToken,
    pub findings: Findings,
    pub discovered: Vec<DiscoveredColumn>,
}

impl Opening<'_> {
    pub(super) async fn start(
        self,
        target: &ConnectionTarget,
        progress: ProgressFn<'_>,
    ) -> Result<Started> {
        let mut run = Checked::new(self.registry, target, self.batch_size, self.lock_timeout)?;
        progress(&Progress::Connecting {
            database: target.describe(),
        });
        let mut client = self.cancel.guard(target.connect()).await?;
        let cancel_token = client.cancel_token();
        let mut findings = Findings {
            warnings: self.warnings,
            ..Findings::default()
        };
        run.settle(&client, self.schema, self.registry, &mut findings)
            .await?;
        catalog::check_row_names(&client, &run.locations).await?;
        let discovered = cancellable(
            self.cancel,
            target,
            &cancel_token,
            discover(
                &mut client,
                self.discover_with,
                &run,
                progress,
                &mut findings,
            ),
        )
        .await?;
        Ok(Started {
            run,
            client,
            cancel_token,
            findings,
            discovered,
        })
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
pub(super) async fn cancellable<T>(
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
pub(super) struct Checked {
    pub started: Instant,
    pub batch_size: i32,
    pub lock_ms: u128,
    /// The schema acted on: the URL's until [`settle`](Self::settle) says.
    pub schema: String,
    pub locations: Vec<ResolvedLocation>,
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
    pub(super) fn identity(&self, target: &ConnectionTarget) -> DatabaseIdentity {
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
        .ok_or_else(|| Invalid::BatchSize.into())
}

fn lock_timeout_ms(timeout: Duration) -> Result<u128> {
    let ms = timeout.as_millis();
    // 0 would mean "wait forever" to PostgreSQL: a hung rotation holding
    // locks is exactly what the timeout exists to prevent.
    if ms == 0 || ms > i32::MAX as u128 {
        return Err(Invalid::LockTimeout.into());
    }
    Ok(ms)
}
