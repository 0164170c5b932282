//! Where ciphertext lives: a registry of (table, primary key, column) that is
//! data, not code, so a release that adds an encrypted column needs a JSON
//! file or an option, not a rebuild.
//!
//! Every identifier reaches SQL only through [`quote_ident`]; nothing from
//! options is ever spliced in unquoted.

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ident::quote_ident;

/// PostgreSQL truncates identifiers longer than NAMEDATALEN-1 bytes, which
/// would silently point at a different name.
const MAX_IDENT_BYTES: usize = 63;

/// One encrypted column. `schema: None` means the schema from the connection
/// string (`?schema=`, default `public`), which is where Prisma put the tables.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ColumnRef {
    #[serde(default)]
    pub schema: Option<String>,
    pub table: String,
    pub primary_key: String,
    pub column: String,
}

/// Whether a missing column is worth an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `connectors.auth_config`: every AnythingMCP database has it, so its
    /// absence means the wrong database or schema, and "0 rows re-encrypted"
    /// followed by a key switch would brick every credential.
    Core,
    /// A default that migrations drop (the legacy `mcp_server_configs`):
    /// reported as absent.
    Legacy,
    /// Named by the operator: absence is almost always a typo.
    Explicit,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredColumn {
    pub column: ColumnRef,
    pub origin: Origin,
}

impl ColumnRef {
    pub fn new(schema: Option<&str>, table: &str, primary_key: &str, column: &str) -> Result<Self> {
        let c = ColumnRef {
            schema: schema.map(str::to_owned),
            table: table.to_owned(),
            primary_key: primary_key.to_owned(),
            column: column.to_owned(),
        };
        c.validate()?;
        Ok(c)
    }

    fn validate(&self) -> Result<()> {
        if let Some(s) = &self.schema {
            check_ident("schema", s)?;
        }
        check_ident("table", &self.table)?;
        check_ident("primary key", &self.primary_key)?;
        check_ident("column", &self.column)
    }

    /// Parse `[schema.]table.primaryKey.column`, the CLI's `--column` form.
    /// Names containing dots need the JSON form.
    pub fn parse_spec(spec: &str) -> Result<Self> {
        let parts: Vec<&str> = spec.split('.').collect();
        match parts.as_slice() {
            [t, pk, c] => ColumnRef::new(None, t, pk, c),
            [s, t, pk, c] => ColumnRef::new(Some(s), t, pk, c),
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

/// The columns AnythingMCP encrypts (SPEC section 1).
pub fn defaults() -> Vec<RegisteredColumn> {
    [
        ("connectors", Origin::Core),
        ("mcp_server_configs", Origin::Legacy),
    ]
    .into_iter()
    .map(|(table, origin)| RegisteredColumn {
        column: ColumnRef {
            schema: None,
            table: table.into(),
            primary_key: "id".into(),
            column: "auth_config".into(),
        },
        origin,
    })
    .collect()
}

/// Parse a columns file: either a JSON array of
/// `{"schema"?, "table", "primaryKey", "column"}` or `{"columns": [...]}`.
pub fn parse_json(text: &str) -> Result<Vec<ColumnRef>> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum File {
        List(Vec<ColumnRef>),
        Wrapped { columns: Vec<ColumnRef> },
    }
    let file: File = serde_json::from_str(text)
        .map_err(|e| Error::invalid_argument(format!("columns file: {e}")))?;
    let columns = match file {
        File::List(c) | File::Wrapped { columns: c } => c,
    };
    for c in &columns {
        c.validate()?;
    }
    Ok(columns)
}

/// The defaults plus the operator's extras, without duplicates (an extra that
/// names a default keeps the stricter explicit origin).
pub fn registry(extra: Vec<ColumnRef>, default_schema: &str) -> Vec<RegisteredColumn> {
    let mut out = defaults();
    let same = |a: &ColumnRef, b: &ColumnRef| {
        a.schema_or(default_schema) == b.schema_or(default_schema)
            && a.table == b.table
            && a.column == b.column
    };
    for column in extra {
        match out.iter_mut().find(|r| same(&r.column, &column)) {
            Some(existing) => {
                existing.column = column;
                existing.origin = Origin::Explicit;
            }
            None => out.push(RegisteredColumn {
                column,
                origin: Origin::Explicit,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_names_into_single_identifiers() {
        let c = ColumnRef::parse_spec("tenant;1.connectors.id.auth_config").unwrap();
        assert_eq!(c.qualified_table("public"), "\"tenant;1\".\"connectors\"");
    }

    #[test]
    fn spec_forms() {
        let c = ColumnRef::parse_spec("secrets.id.value").unwrap();
        assert_eq!((c.schema, c.table.as_str()), (None, "secrets"));
        let c = ColumnRef::parse_spec("app.secrets.id.value").unwrap();
        assert_eq!(c.schema.as_deref(), Some("app"));
        for bad in ["secrets.value", "a.b.c.d.e", "a..c", "a.b.c\u{0}"] {
            assert_eq!(
                ColumnRef::parse_spec(bad).unwrap_err().code(),
                "ERR_INVALID_ARG",
                "{bad}"
            );
        }
        let long = "x".repeat(64);
        assert!(ColumnRef::parse_spec(&format!("{long}.id.c")).is_err());
    }

    #[test]
    fn json_forms() {
        let a = parse_json(r#"[{"table":"t","primaryKey":"id","column":"c"}]"#).unwrap();
        let b = parse_json(
            r#"{"columns":[{"schema":"s","table":"t","primaryKey":"id","column":"c"}]}"#,
        )
        .unwrap();
        assert_eq!(a[0].table, "t");
        assert_eq!(b[0].schema.as_deref(), Some("s"));
        for bad in [
            "nope",
            r#"[{"table":"t","column":"c"}]"#,
            r#"[{"table":"t","primaryKey":"id","column":"c","sql":"x"}]"#,
            r#"[{"table":"","primaryKey":"id","column":"c"}]"#,
        ] {
            assert_eq!(
                parse_json(bad).unwrap_err().code(),
                "ERR_INVALID_ARG",
                "{bad}"
            );
        }
    }

    #[test]
    fn registry_merges_extras_with_defaults() {
        let extra = vec![
            ColumnRef::parse_spec("public.connectors.id.auth_config").unwrap(),
            ColumnRef::parse_spec("webhooks.id.secret").unwrap(),
        ];
        let r = registry(extra, "public");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].origin, Origin::Explicit);
        assert_eq!(r[1].origin, Origin::Legacy);
        assert_eq!(r[2].column.table, "webhooks");
    }
}
