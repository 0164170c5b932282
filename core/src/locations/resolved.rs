//! A location as it applies to one database: the registry entry with its
//! schema settled. What the rotation, the reports and discovery work on.

use std::ops::Deref;

use super::location::Location;
use crate::error::Place;

/// A registry entry with its schema settled: the entry's own, or the
/// database's default. Only [`Registry::resolve`](super::Registry::resolve)
/// makes one, so [`schema`](Self::schema) is always the schema acted on.
/// Everything else is the entry's: it derefs to the [`Location`] (whose
/// `schema` is `Some` of the same name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedLocation {
    entry: Location,
    /// Not `schema`, so that a field access reaching the entry's `schema`
    /// through `Deref` is never mistaken for this one.
    settled: String,
}

impl ResolvedLocation {
    /// `entry` in a database whose default schema is `default_schema`.
    pub(super) fn new(mut entry: Location, default_schema: &str) -> Self {
        let settled = entry.schema_or(default_schema).to_owned();
        entry.schema = Some(settled.clone());
        ResolvedLocation { entry, settled }
    }

    /// The schema the location's table is in.
    pub fn schema(&self) -> &str {
        &self.settled
    }

    /// Where the location is, for errors.
    pub fn place(&self) -> Place {
        Place {
            schema: self.settled.clone(),
            table: self.entry.table.clone(),
            column: self.entry.column.clone(),
            member: self.entry.member.clone(),
        }
    }
}

impl Deref for ResolvedLocation {
    type Target = Location;

    fn deref(&self) -> &Location {
        &self.entry
    }
}
