//! What a caller may ask of a rotation and of a verify, and the defaults.

use std::time::Duration;

use crate::cancel::Cancel;
use crate::locations::Registry;

use super::audit::Actor;
use super::graph::GraphKey;

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
