//! One place that holds sealed strings, as the registry names it.

use crate::aad::Aad;
use crate::ident::quote_ident;

/// Whether a location this database lacks is worth an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `connectors.auth_config`: every AnythingMCP database has it, so its
    /// absence means the wrong database or schema, and "0 rows re-encrypted"
    /// followed by a key switch would brick every credential.
    Required,
    /// A default that an older or newer release does not have: reported as
    /// absent.
    Default,
    /// Named by the operator: absence is almost always a typo.
    Explicit,
}

/// One place that holds sealed strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// `None`: the connection string's schema (`?schema=`, default `public`).
    pub schema: Option<String>,
    pub table: String,
    /// The column that names a row in reports and errors.
    pub primary_key: String,
    pub column: String,
    /// `Some`: the sealed string is this top-level string member of a JSON
    /// object held in the column (jsonb, json, or text holding JSON).
    pub member: Option<String>,
    /// Only rows whose columns equal these values (compared as text).
    pub filter: Vec<(String, String)>,
    pub aad: Aad,
    /// The migration that added the location, for reports.
    pub since: Option<String>,
    /// The migration that removed it, for reports.
    pub until: Option<String>,
    pub origin: Origin,
}

impl Location {
    pub fn schema_or<'a>(&'a self, default_schema: &'a str) -> &'a str {
        self.schema.as_deref().unwrap_or(default_schema)
    }

    /// `"schema"."table"`, quoted.
    pub fn qualified_table(&self, default_schema: &str) -> String {
        format!(
            "{}.{}",
            quote_ident(self.schema_or(default_schema)),
            quote_ident(&self.table)
        )
    }

    /// `table.column` or `table.column.member`, for messages.
    pub fn name(&self) -> String {
        match &self.member {
            Some(m) => format!("{}.{}.{m}", self.table, self.column),
            None => format!("{}.{}", self.table, self.column),
        }
    }

    /// Whether two locations could name the same sealed string of one row:
    /// the same cell (whole value against anything in it, or the same
    /// member), unless their filters pick rows apart by one column.
    pub(super) fn overlaps(&self, other: &Location) -> bool {
        let same_cell = self.schema == other.schema
            && self.table == other.table
            && self.column == other.column
            && (self.member.is_none() || other.member.is_none() || self.member == other.member);
        let disjoint = self
            .filter
            .iter()
            .any(|(column, value)| other.filter.iter().any(|(c, v)| c == column && v != value));
        same_cell && !disjoint
    }

    pub(super) fn same_place(&self, other: &Location) -> bool {
        self.schema == other.schema
            && self.table == other.table
            && self.column == other.column
            && self.member == other.member
            && self.filter == other.filter
    }
}
