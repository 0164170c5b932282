//! The registry's file format (docs/locations.md), as written: documents
//! and entries, read into [`Location`]s with every name checked.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{Location, Origin};
use crate::aad::{Aad, AadSpec};
use crate::error::{Error, Result};

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
            check_ident("schema", s)?;
        }
        check_ident("table", &spec.table)?;
        check_ident("primary key", &spec.primary_key)?;
        check_ident("column", &spec.column)?;
        if let Some(m) = &spec.member {
            if m.is_empty() || m.chars().any(char::is_control) {
                return Err(Error::invalid_argument(
                    "a member name must be non-empty and free of control characters",
                ));
            }
        }
        for name in spec.filter.keys() {
            check_ident("filter column", name)?;
        }
        let aad = Aad::from_spec(spec.aad.as_ref())?;
        for name in aad.columns() {
            check_ident("AAD column", name)?;
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
            _ => Err(Error::invalid_argument(format!(
                "a column spec ({} characters, {} dot-separated parts) must be [schema.]table.primaryKey.column",
                spec.chars().count(),
                parts.len()
            ))),
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
    let invalid = |e: serde_json::Error| {
        Error::invalid_argument(format!("locations file: {}", describe_json_error(&e)))
    };
    let value: serde_json::Value = serde_json::from_str(text).map_err(invalid)?;
    let doc = match &value {
        serde_json::Value::Array(_) => DocumentSpec {
            locations: serde_json::from_str(text).map_err(invalid)?,
            ..DocumentSpec::default()
        },
        serde_json::Value::Object(o) if o.contains_key("columns") => DocumentSpec {
            locations: serde_json::from_str::<Columns>(text).map_err(invalid)?.columns,
            ..DocumentSpec::default()
        },
        serde_json::Value::Object(_) => serde_json::from_str(text).map_err(invalid)?,
        _ => {
            return Err(Error::invalid_argument(
                "locations file: expected a registry document ({\"locations\": [...]}) or an array of locations",
            ))
        }
    };
    Ok(doc)
}

/// Where parsing failed and, for the shape errors that name a field, which
/// field; never a value from the file.
fn describe_json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let field = ["unknown field", "missing field", "unknown variant"]
        .iter()
        .find(|p| text.starts_with(*p))
        .and_then(|_| text.split(['`']).nth(1))
        .filter(|f| f.len() <= 40)
        .map(|f| format!(" (field `{f}`)"))
        .unwrap_or_default();
    let what = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not valid JSON",
        _ => "an entry does not match the format of docs/locations.md",
    };
    format!("{what}{field} at line {}, column {}", e.line(), e.column())
}

fn check_ident(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid_argument(format!("{what} name is empty")));
    }
    if name.len() > MAX_IDENT_BYTES {
        return Err(Error::invalid_argument(format!(
            "a {what} name is {} bytes, longer than PostgreSQL's {MAX_IDENT_BYTES}-byte identifier limit",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Error::invalid_argument(format!(
            "a {what} name contains a control character"
        )));
    }
    Ok(())
}
