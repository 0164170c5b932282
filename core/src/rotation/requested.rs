//! What a caller asks for, every field optional, turned into a run's
//! options: the defaults filled in, the locations file read, the extra
//! locations parsed. The binding converts JS's options into this and
//! nothing more.

use std::path::PathBuf;
use std::time::Duration;

use crate::cancel::Cancel;
use crate::connection::DEFAULT_SCHEMA;
use crate::error::Result;
use crate::key::KeyPolicy;
use crate::locations::{Location, Registry, ResolvedLocation};

use super::audit::Actor;
use super::graph::GraphKey;
use super::options::{RotateOptions, VerifyOptions};

/// One extra plain location: the whole value of a text column, no AAD.
#[derive(Clone, Debug)]
pub enum ColumnArg {
    /// `[schema.]table.primaryKey.column`, the CLI's `--column` form.
    Spec(String),
    Parts {
        schema: Option<String>,
        table: String,
        primary_key: String,
        column: String,
    },
}

/// A run as the caller asked for it; `None` is the default.
#[derive(Clone, Debug, Default)]
pub struct Requested {
    pub dry_run: Option<bool>,
    pub columns: Vec<ColumnArg>,
    /// A locations file in the registry's format.
    pub columns_file: Option<PathBuf>,
    pub lock_timeout: Option<Duration>,
    pub discover: Option<bool>,
    pub allow_unregistered: Option<bool>,
    pub allow_whitespace: Option<bool>,
    pub batch_size: Option<usize>,
    /// `KG_HASH_SECRET` is set: whether it is the old key.
    pub kg_pinned_to_old_key: Option<bool>,
    pub kg_relink: Option<bool>,
    pub actor: Actor,
    /// The schema to act on, over the URL's `?schema=`.
    pub schema: Option<String>,
}

impl Requested {
    pub fn key_policy(&self) -> KeyPolicy {
        KeyPolicy {
            allow_whitespace: self.allow_whitespace.unwrap_or(false),
        }
    }

    /// The shipped registry plus the caller's locations: the file's, then
    /// the columns named one by one.
    pub fn registry(&self) -> Result<Registry> {
        let mut registry = Registry::defaults();
        if let Some(path) = &self.columns_file {
            registry.add_file_at(path)?;
        }
        for column in &self.columns {
            registry.add(match column {
                ColumnArg::Spec(spec) => Location::parse_spec(spec)?,
                ColumnArg::Parts {
                    schema,
                    table,
                    primary_key,
                    column,
                } => Location::plain(schema.as_deref(), table, primary_key, column)?,
            });
        }
        Ok(registry)
    }

    /// The locations a run would look at in `schema` (the connection
    /// string's; without one, the default schema).
    pub fn locations(&self, schema: Option<&str>) -> Result<Vec<ResolvedLocation>> {
        self.registry()?.resolve(schema.unwrap_or(DEFAULT_SCHEMA))
    }

    pub fn rotate(&self, cancel: &Cancel) -> Result<RotateOptions> {
        let defaults = RotateOptions::default();
        Ok(RotateOptions {
            dry_run: self.dry_run.unwrap_or(defaults.dry_run),
            registry: self.registry()?,
            lock_timeout: self.lock_timeout.unwrap_or(defaults.lock_timeout),
            discover: self.discover.unwrap_or(defaults.discover),
            allow_unregistered: self
                .allow_unregistered
                .unwrap_or(defaults.allow_unregistered),
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            cancel: cancel.clone(),
            graph_key: self.graph_key(),
            actor: self.actor.clone(),
            schema: self.schema.clone(),
        })
    }

    /// Verify takes the options a rotation shares with it; the rest do not
    /// apply.
    pub fn verify(&self, cancel: &Cancel) -> Result<VerifyOptions> {
        let shared = self.rotate(cancel)?;
        Ok(VerifyOptions {
            registry: shared.registry,
            discover: shared.discover,
            batch_size: shared.batch_size,
            cancel: shared.cancel,
            graph_key: shared.graph_key,
            schema: shared.schema,
        })
    }

    fn graph_key(&self) -> GraphKey {
        match (self.kg_relink, self.kg_pinned_to_old_key) {
            (Some(true), _) => GraphKey::Relink,
            (_, Some(to_old_key)) => GraphKey::Pinned { to_old_key },
            _ => GraphKey::Unpinned,
        }
    }
}
