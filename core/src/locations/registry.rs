//! The registry: the locations shipped with this release plus the
//! operator's, and the migrations they were written against.

use super::location::{Location, Origin};
use super::resolved::ResolvedLocation;
use super::spec::{parse_document, DocumentSpec};
use crate::error::{Error, Invalid, Result};

/// The registry shipped with this release.
const DEFAULTS: &str = include_str!("../../../locations.json");

/// Which migrations the registry was written against.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KnownMigrations {
    names: Vec<String>,
    through: Option<String>,
}

impl KnownMigrations {
    /// A migration is known when the registry names it, or when it sorts
    /// before the newest migration the registry was checked against (Prisma
    /// names migrations by timestamp, and applies them in name order).
    pub fn knows(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name) || self.through.as_deref().is_some_and(|t| name <= t)
    }

    fn absorb(&mut self, doc: &DocumentSpec) {
        self.names.extend(doc.known_migrations.iter().cloned());
        if let Some(t) = &doc.known_migrations_through {
            if self.through.as_ref().is_none_or(|cur| t > cur) {
                self.through = Some(t.clone());
            }
        }
    }
}

/// The defaults plus the operator's additions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registry {
    pub locations: Vec<Location>,
    pub migrations: KnownMigrations,
}

impl Registry {
    /// The registry shipped with this release.
    pub fn defaults() -> Self {
        let doc = parse_document(DEFAULTS).expect("locations.json is valid");
        let mut migrations = KnownMigrations::default();
        migrations.absorb(&doc);
        let locations = doc
            .locations
            .into_iter()
            .map(|spec| Location::from_spec(spec, Origin::Default))
            .collect::<Result<_>>()
            .expect("locations.json holds valid locations");
        Registry {
            locations,
            migrations,
        }
    }

    /// Add the locations of an operator's file (a registry document, or a
    /// bare array of locations).
    pub fn add_file(&mut self, text: &str) -> Result<()> {
        let doc = parse_document(text)?;
        self.migrations.absorb(&doc);
        for spec in doc.locations {
            self.add(Location::from_spec(spec, Origin::Explicit)?);
        }
        Ok(())
    }

    /// Add the locations of the operator's file at `path`. Errors never
    /// name the path: a key typed where the path belongs must not be echoed.
    pub fn add_file_at(&mut self, path: &std::path::Path) -> Result<()> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::from(Invalid::LocationsFile(e.kind())))?;
        self.add_file(&text)
    }

    /// Add one location.
    pub fn add(&mut self, location: Location) {
        self.locations.push(location);
    }

    /// The locations as they apply to a database whose default schema is
    /// `default_schema`: each with its schema filled in, a later location
    /// naming the same place as an earlier one replacing it (so an operator's
    /// entry overrides a default, and its absence becomes an error), and no
    /// two that could claim the same sealed string — rotating one twice would
    /// seal the new key's ciphertext again.
    pub fn resolve(&self, default_schema: &str) -> Result<Vec<ResolvedLocation>> {
        let mut out: Vec<ResolvedLocation> = Vec::new();
        for location in &self.locations {
            let location = ResolvedLocation::new(location.clone(), default_schema);
            match out.iter_mut().find(|l| l.same_place(&location)) {
                Some(existing) => *existing = location,
                None => out.push(location),
            }
        }
        for (i, a) in out.iter().enumerate() {
            if let Some(b) = out[i + 1..].iter().find(|b| a.overlaps(b)) {
                return Err(Invalid::Overlap {
                    first: a.name(),
                    second: b.name(),
                }
                .into());
            }
        }
        Ok(out)
    }
}
