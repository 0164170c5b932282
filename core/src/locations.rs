//! Where ciphertext lives: the registry of locations. It is data
//! (`locations.json`, shipped in the package, plus whatever the operator
//! adds in the same format), not code, so a release that seals secrets in a
//! new place needs a JSON file, not a rebuild. The format is documented in
//! docs/locations.md.
//!
//! Every name here reaches SQL only through [`quote_ident`], and every
//! value (a row filter) only as a bound parameter.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::aad::{Aad, AadSpec};
use crate::error::{Error, Place, Result};
use crate::ident::quote_ident;

/// The registry shipped with this release.
const DEFAULTS: &str = include_str!("../../locations.json");

/// PostgreSQL truncates identifiers longer than NAMEDATALEN-1 bytes, which
/// would silently point at a different name.
const MAX_IDENT_BYTES: usize = 63;

/// One entry of a registry document, as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LocationSpec {
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
struct DocumentSpec {
    /// Free text for people reading the file.
    #[serde(default, rename = "description")]
    _description: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    known_migrations_through: Option<String>,
    #[serde(default)]
    known_migrations: Vec<String>,
    locations: Vec<LocationSpec>,
}

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
    fn from_spec(spec: LocationSpec, origin: Origin) -> Result<Self> {
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

    /// Where the location is, for errors (its schema filled in by
    /// [`Registry::resolve`]).
    pub fn place(&self) -> Place {
        Place {
            schema: self.schema.clone().unwrap_or_default(),
            table: self.table.clone(),
            column: self.column.clone(),
            member: self.member.clone(),
        }
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
    fn overlaps(&self, other: &Location) -> bool {
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

    fn same_place(&self, other: &Location) -> bool {
        self.schema == other.schema
            && self.table == other.table
            && self.column == other.column
            && self.member == other.member
            && self.filter == other.filter
    }
}

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
        let text = std::fs::read_to_string(path).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "no such file",
                std::io::ErrorKind::PermissionDenied => "permission denied",
                std::io::ErrorKind::IsADirectory => "it is a directory",
                std::io::ErrorKind::InvalidData => "it is not UTF-8 text",
                _ => "it cannot be read",
            };
            Error::invalid_argument(format!(
                "the locations file (--columns-file, columnsFile): {why}"
            ))
        })?;
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
    pub fn resolve(&self, default_schema: &str) -> Result<Vec<Location>> {
        let mut out: Vec<Location> = Vec::new();
        for location in &self.locations {
            let mut location = location.clone();
            location.schema = Some(location.schema_or(default_schema).to_owned());
            match out.iter_mut().find(|l| l.same_place(&location)) {
                Some(existing) => *existing = location,
                None => out.push(location),
            }
        }
        for (i, a) in out.iter().enumerate() {
            if let Some(b) = out[i + 1..].iter().find(|b| a.overlaps(b)) {
                return Err(Error::invalid_argument(format!(
                    "locations {} and {} overlap: give them filters that tell their rows apart",
                    a.name(),
                    b.name()
                )));
            }
        }
        Ok(out)
    }
}

/// A registry document, a bare array of locations, or the older
/// `{"columns": [...]}` form of plain columns.
fn parse_document(text: &str) -> Result<DocumentSpec> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_every_location_of_the_current_backend() {
        let r = Registry::defaults();
        let names: Vec<String> = r.locations.iter().map(Location::name).collect();
        assert_eq!(
            names,
            [
                "connectors.auth_config",
                "connectors.env_vars.$enc",
                "connector_auth_cache.token",
                "identity_providers.client_secret_enc",
                "connector_oauth_attempts.payload",
                "org_settings.value.secretEnc",
                "mcp_server_configs.auth_config",
            ]
        );
        assert_eq!(r.locations[0].origin, Origin::Required);
        assert!(r.locations[1..].iter().all(|l| l.origin == Origin::Default));
        assert_eq!(
            r.locations[1].aad,
            Aad::Constant("connectors.env_vars".into())
        );
        assert_eq!(r.locations[3].aad.columns(), ["id", "organization_id"]);
        assert_eq!(r.locations[4].aad, Aad::Constant("connector-oauth".into()));
        assert_eq!(
            r.locations[5].filter,
            [("key".to_owned(), "alert_webhook".to_owned())]
        );
        assert_eq!(r.locations[5].aad.columns(), ["organization_id"]);
        r.resolve("public").unwrap();
    }

    #[test]
    fn knows_the_migrations_it_was_written_against() {
        let m = Registry::defaults().migrations;
        assert!(m.knows("20260228195200_init"));
        assert!(m.knows("20260303_multi_mcp_servers"));
        assert!(m.knows("20260901000000_anything_before_the_newest"));
        assert!(m.knows("20261006090000_tool_invocation_repeat_count"));
        assert!(!m.knows("20261106000000_add_webhook_secrets"));
    }

    #[test]
    fn spec_forms() {
        let c = Location::parse_spec("secrets.id.value").unwrap();
        assert_eq!((c.schema, c.table.as_str()), (None, "secrets"));
        let c = Location::parse_spec("app.secrets.id.value").unwrap();
        assert_eq!(c.schema.as_deref(), Some("app"));
        assert_eq!(c.origin, Origin::Explicit);
        assert_eq!(
            Location::parse_spec("tenant;1.connectors.id.auth_config")
                .unwrap()
                .qualified_table("public"),
            "\"tenant;1\".\"connectors\""
        );
        for bad in ["secrets.value", "a.b.c.d.e", "a..c", "a.b.c\u{0}"] {
            assert_eq!(
                Location::parse_spec(bad).unwrap_err().code(),
                "ERR_INVALID_ARG",
                "{bad}"
            );
        }
        let long = "x".repeat(64);
        assert!(Location::parse_spec(&format!("{long}.id.c")).is_err());
    }

    #[test]
    fn operator_files_in_both_forms() {
        let mut r = Registry::defaults();
        r.add_file(r#"[{"table":"t","primaryKey":"id","column":"c"}]"#)
            .unwrap();
        r.add_file(r#"{"columns":[{"table":"t2","primaryKey":"id","column":"c"}]}"#)
            .unwrap();
        r.add_file(
            r#"{"knownMigrations":["20261106000000_add_webhook_secrets"],
                "locations":[{"schema":"s","table":"w","primaryKey":"id","column":"doc",
                  "member":"secret","where":{"kind":"hook"},"aad":{"template":"hook:{id}"}}]}"#,
        )
        .unwrap();
        let n = r.locations.len();
        assert_eq!(r.locations[n - 3].name(), "t.c");
        assert_eq!(r.locations[n - 2].name(), "t2.c");
        assert_eq!(r.locations[n - 1].name(), "w.doc.secret");
        assert_eq!(r.locations[n - 1].origin, Origin::Explicit);
        assert!(r.migrations.knows("20261106000000_add_webhook_secrets"));
        let resolved = r.resolve("tenant").unwrap();
        assert_eq!(resolved[n - 3].schema.as_deref(), Some("tenant"));
        assert_eq!(resolved[n - 1].schema.as_deref(), Some("s"));
    }

    #[test]
    fn operator_files_are_checked() {
        for bad in [
            "nope",
            r#"[{"table":"t","column":"c"}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","sql":"x"}]"#,
            r#"[{"table":"","primaryKey":"id","column":"c"}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","aad":{"template":"{"}}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","aad":{"sql":"x"}}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","member":""}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","where":{"a\u0000":"x"}}]"#,
        ] {
            let err = Registry::defaults().add_file(bad).unwrap_err();
            assert_eq!(err.code(), "ERR_INVALID_ARG", "{bad}");
            assert!(!err.to_string().contains("nope"), "{err}");
        }
    }

    #[test]
    fn messages_name_fields_never_values() {
        let err = Registry::defaults()
            .add_file(r#"[{"table":"t","primaryKey":"id","column":"c","sqll":"sk_live_SECRET"}]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("field `sqll`"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
        let err = Registry::defaults()
            .add_file(r#"[{"table":"t","primaryKey":"id","column":7}]"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1"), "{err}");
        assert!(!err.contains("integer"), "{err}");
    }

    #[test]
    fn an_extra_naming_a_default_replaces_it_and_becomes_explicit() {
        let mut r = Registry::defaults();
        r.add(Location::parse_spec("public.connector_auth_cache.id.token").unwrap());
        let resolved = r.resolve("public").unwrap();
        assert_eq!(resolved.len(), r.locations.len() - 1);
        assert_eq!(resolved[2].origin, Origin::Explicit);
        // In another schema it is a location of its own.
        assert_eq!(r.resolve("tenant").unwrap().len(), r.locations.len());
    }

    #[test]
    fn overlapping_locations_are_refused() {
        let mut r = Registry::defaults();
        r.add_file(r#"[{"table":"connectors","primaryKey":"id","column":"env_vars"}]"#)
            .unwrap();
        assert_eq!(r.resolve("public").unwrap_err().code(), "ERR_INVALID_ARG");

        let mut r = Registry::defaults();
        r.add_file(
            r#"[{"table":"org_settings","primaryKey":"id","column":"value","member":"secretEnc","where":{"key":"other_hook"}}]"#,
        )
        .unwrap();
        r.resolve("public").unwrap();
    }
}
