//! The registry's file format (docs/locations.md), as written: documents
//! and entries, read into [`Location`]s with every name checked.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::location::{Location, Origin};
use crate::aad::{Aad, AadSpec};
use crate::error::{Error, Invalid, JsonFault, NameFault, NameOf, Result};

/// PostgreSQL truncates identifiers longer than NAMEDATALEN-1 bytes, which
/// would silently point at a different name.
const MAX_IDENT_BYTES: usize = 63;

/// One entry of a registry document, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct LocationSpec {
    #[serde(default)]
    schema: Option<String>,
    table: String,
    primary_key: String,
    column: String,
    #[serde(default)]
    member: Option<String>,
    #[serde(default, rename = "where")]
    filter: BTreeMap<String, String>,
    #[serde(default)]
    aad: Option<AadSpec>,
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    required: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(super) struct DocumentSpec {
    /// Free text for people reading the file.
    #[serde(default, rename = "description")]
    _description: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    pub(super) known_migrations_through: Option<String>,
    #[serde(default)]
    pub(super) known_migrations: Vec<String>,
    pub(super) locations: Vec<LocationSpec>,
}

impl Location {
    pub(super) fn from_spec(spec: LocationSpec, origin: Origin) -> Result<Self> {
        if let Some(s) = &spec.schema {
            check_ident(NameOf::Schema, s)?;
        }
        check_ident(NameOf::Table, &spec.table)?;
        check_ident(NameOf::PrimaryKey, &spec.primary_key)?;
        check_ident(NameOf::Column, &spec.column)?;
        if let Some(m) = &spec.member {
            if m.is_empty() || m.chars().any(char::is_control) {
                return Err(Invalid::MemberName.into());
            }
        }
        for name in spec.filter.keys() {
            check_ident(NameOf::FilterColumn, name)?;
        }
        let aad = Aad::from_spec(spec.aad.as_ref())?;
        for name in aad.columns() {
            check_ident(NameOf::AadColumn, name)?;
        }
        Ok(Location {
            schema: spec.schema,
            table: spec.table,
            primary_key: spec.primary_key,
            column: spec.column,
            member: spec.member,
            filter: spec.filter.into_iter().collect(),
            aad,
            since: spec.since,
            until: spec.until,
            origin: if spec.required {
                Origin::Required
            } else {
                origin
            },
        })
    }

    /// A plain location: the whole value of a text column, no AAD.
    pub fn plain(
        schema: Option<&str>,
        table: &str,
        primary_key: &str,
        column: &str,
    ) -> Result<Self> {
        Location::from_spec(
            LocationSpec {
                schema: schema.map(str::to_owned),
                table: table.to_owned(),
                primary_key: primary_key.to_owned(),
                column: column.to_owned(),
                member: None,
                filter: BTreeMap::new(),
                aad: None,
                since: None,
                until: None,
                required: false,
            },
            Origin::Explicit,
        )
    }

    /// Parse `[schema.]table.primaryKey.column`, the CLI's `--column` form.
    /// Names containing dots, members, filters and AAD need the JSON form.
    pub fn parse_spec(spec: &str) -> Result<Self> {
        let parts: Vec<&str> = spec.split('.').collect();
        match parts.as_slice() {
            [t, pk, c] => Location::plain(None, t, pk, c),
            [s, t, pk, c] => Location::plain(Some(s), t, pk, c),
            // Not quoted back: a key pasted into the wrong option must not
            // end up on the screen.
            _ => Err(Invalid::ColumnSpec {
                chars: spec.chars().count(),
                parts: parts.len(),
            }
            .into()),
        }
    }
}

/// A registry document, a bare array of locations, or the older
/// `{"columns": [...]}` form of plain columns.
pub(super) fn parse_document(text: &str) -> Result<DocumentSpec> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Columns {
        columns: Vec<LocationSpec>,
    }
    let invalid = |e: serde_json::Error| Error::from(describe_json_error(&e));
    let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
    let doc = match &value {
        serde_json::Value::Array(_) => DocumentSpec {
            locations: serde_json::from_str(text).map_err(invalid)?,
            ..DocumentSpec::default()
        },
        serde_json::Value::Object(o) if o.contains_key("columns") => DocumentSpec {
            locations: serde_json::from_str::<Columns>(text)
                .map_err(invalid)?
                .columns,
            ..DocumentSpec::default()
        },
        serde_json::Value::Object(_) => serde_json::from_str(text).map_err(invalid)?,
        _ => return Err(Invalid::LocationsDocument.into()),
    };
    Ok(doc)
}

/// Where parsing failed and, for the shape errors that name a field, which
/// field; never a value from the file.
fn describe_json_error(e: &serde_json::Error) -> Invalid {
    let text = e.to_string();
    let field = ["unknown field", "missing field", "unknown variant"]
        .iter()
        .find(|p| text.starts_with(*p))
        .and_then(|_| text.split(['`']).nth(1))
        .filter(|f| f.len() <= 40)
        .map(str::to_owned);
    let fault = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => JsonFault::Syntax,
        _ => JsonFault::Format,
    };
    Invalid::LocationsJson {
        fault,
        field,
        line: e.line(),
        column: e.column(),
    }
}

fn check_ident(of: NameOf, name: &str) -> Result<()> {
    let fault = if name.is_empty() {
        NameFault::Empty
    } else if name.len() > MAX_IDENT_BYTES {
        NameFault::TooLong {
            bytes: name.len(),
            limit: MAX_IDENT_BYTES,
        }
    } else if name.chars().any(char::is_control) {
        NameFault::ControlCharacter
    } else {
        return Ok(());
    };
    Err(Invalid::Name { of, fault }.into())
}
