//! Stopping a run from outside it: the JS API's `AbortSignal`, the CLI's
//! Ctrl-C. A run can be stopped only before its COMMIT is sent; after that
//! the commit's own outcome is the truth, and stopping would only hide it.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;

use crate::{Error, Result};

/// A flag any thread may raise once; every clone sees it.
#[derive(Clone, Debug)]
pub struct Cancel(Arc<watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Cancel(Arc::new(watch::channel(false).0))
    }
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    async fn cancelled(&self) {
        let mut seen = self.0.subscribe();
        // The sender lives in `self`, so the wait ends only when cancelled.
        let _ = seen.wait_for(|cancelled| *cancelled).await;
    }

    /// `work`, unless the run is cancelled first: `work` is then dropped
    /// where it stands, its statements with it, and the answer is
    /// [`Error::Aborted`]. The caller drops the transaction, which
    /// PostgreSQL rolls back.
    pub async fn guard<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            () = self.cancelled() => Err(Error::Aborted),
            outcome = work => outcome,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn a_cancel_stops_work_in_flight_and_a_cancelled_run_never_starts() {
        let cancel = Cancel::new();
        let stopper = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            stopper.cancel();
        });
        let forever = cancel.guard(async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        let outcome = tokio::time::timeout(Duration::from_secs(5), forever)
            .await
            .expect("the guard ends when cancelled");
        assert_eq!(outcome.unwrap_err().code(), "ABORT_ERR");
        assert!(cancel.is_cancelled());

        let ran = std::sync::atomic::AtomicBool::new(false);
        let late = cancel
            .guard(async {
                ran.store(true, std::sync::atomic::Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert_eq!(late.unwrap_err().code(), "ABORT_ERR");
        assert!(!ran.load(std::sync::atomic::Ordering::SeqCst));
    }

    #[tokio::test]
    async fn work_that_finishes_is_its_own_answer() {
        assert_eq!(Cancel::new().guard(async { Ok(7) }).await.unwrap(), 7);
    }
}
