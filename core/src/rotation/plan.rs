//! What one scan of one table reads and writes: the locations it holds, the
//! columns they need, and the three statements (count, read, write-back).
//!
//! A table with several locations (`connectors`: `auth_config` and
//! `env_vars.$enc`) is read once and each row written once. Every name in
//! the SQL is quoted; every filter value is a bound parameter.

use tokio_postgres::types::{ToSql, Type};

use crate::aad::Aad;
use crate::ident::quote_ident;
use crate::locations::{Location, ResolvedLocation};

/// How a column holds its text, which decides how a new value is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// text or varchar: the value, or a JSON document as text, byte for byte.
    Text,
    /// json: JSON text, kept exactly as written.
    Json,
    /// jsonb: the server's canonical text form goes out and comes back; the
    /// splice changes one member, and the cast back restores every other.
    Jsonb,
}

impl ColumnKind {
    fn cast(self) -> &'static str {
        match self {
            ColumnKind::Text => "",
            ColumnKind::Json => "::json",
            ColumnKind::Jsonb => "::jsonb",
        }
    }
}

#[derive(Clone, Debug)]
pub struct PlanColumn {
    pub name: String,
    pub kind: ColumnKind,
}

/// One location within its table's plan.
#[derive(Clone, Debug)]
pub struct PlanLocation {
    pub location: ResolvedLocation,
    /// Index into [`TablePlan::columns`].
    pub column: usize,
    /// For each of the AAD's columns, its index into
    /// [`TablePlan::aad_columns`].
    pub aad_columns: Vec<usize>,
}

impl PlanLocation {
    pub fn aad(&self) -> &Aad {
        &self.location.aad
    }
}

#[derive(Clone, Debug)]
pub struct TablePlan {
    pub schema: String,
    pub table: String,
    pub primary_key: String,
    pub columns: Vec<PlanColumn>,
    pub aad_columns: Vec<String>,
    pub locations: Vec<PlanLocation>,
    /// Read text as the bytes stored (a `SQL_ASCII` database): such a server
    /// refuses to send a UTF-8 client any row holding bytes that are not
    /// UTF-8, which would fail the whole scan instead of naming the row.
    pub raw_text: bool,
}

/// Positions of the read statement's output columns.
pub const COL_CTID: usize = 0;
pub const COL_PK: usize = 1;
pub const COL_FIRST_VALUE: usize = 2;

impl TablePlan {
    /// Build a plan for locations that all live in one table, each paired
    /// with the kind of its column.
    pub fn new(locations: Vec<(ResolvedLocation, ColumnKind)>) -> Self {
        let first = &locations[0].0;
        let mut plan = TablePlan {
            schema: first.schema().to_owned(),
            table: first.table.clone(),
            primary_key: first.primary_key.clone(),
            columns: Vec::new(),
            aad_columns: Vec::new(),
            locations: Vec::new(),
            raw_text: false,
        };
        for (location, kind) in locations {
            let column = index_of(
                &mut plan.columns,
                &location.column,
                |c| &c.name,
                || PlanColumn {
                    name: location.column.clone(),
                    kind,
                },
            );
            let aad_columns = location
                .aad
                .columns()
                .iter()
                .map(|name| index_of(&mut plan.aad_columns, name, |c| c, || name.clone()))
                .collect();
            plan.locations.push(PlanLocation {
                location,
                column,
                aad_columns,
            });
        }
        plan
    }

    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }

    /// The filter values, in the order the statements' `$n` use them.
    pub fn params(&self) -> Vec<&str> {
        self.locations
            .iter()
            .flat_map(|l| l.location.filter.iter().map(|(_, v)| v.as_str()))
            .collect()
    }

    /// Each location's row filter as SQL, numbering parameters from `$1`.
    fn conditions(&self) -> Vec<String> {
        let mut next = 0;
        self.locations
            .iter()
            .map(|l| filter_sql(&l.location, &mut next))
            .collect()
    }

    /// Rows the read statement will return: those where some location's
    /// filter holds and its column is not NULL.
    fn scanned(&self, conditions: &[String]) -> String {
        self.locations
            .iter()
            .zip(conditions)
            .map(|(l, cond)| {
                format!(
                    "({cond} AND {} IS NOT NULL)",
                    quote_ident(&self.columns[l.column].name)
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// One row: for each location, the rows its filter covers and how many
    /// of them are NULL; then the rows the read will return.
    pub fn count_sql(&self) -> String {
        let conditions = self.conditions();
        let mut out: Vec<String> = Vec::new();
        for (l, cond) in self.locations.iter().zip(&conditions) {
            let column = quote_ident(&self.columns[l.column].name);
            out.push(format!("count(*) FILTER (WHERE {cond})"));
            out.push(format!(
                "count(*) FILTER (WHERE {cond} AND {column} IS NULL)"
            ));
        }
        out.push(format!(
            "count(*) FILTER (WHERE {})",
            self.scanned(&conditions)
        ));
        format!("SELECT {} FROM {}", out.join(", "), self.qualified())
    }

    /// ctid, primary key, each column, each AAD column (all as text, or as
    /// the stored bytes with [`raw_text`](Self::raw_text)), then each
    /// location's filter as a boolean.
    pub fn select_sql(&self) -> String {
        let conditions = self.conditions();
        let text = |name: &str| match self.raw_text {
            // convert_to a database's own encoding is the one path that
            // hands the bytes over unconverted and unchecked.
            true => format!("convert_to({}::text, 'SQL_ASCII')", quote_ident(name)),
            false => format!("{}::text", quote_ident(name)),
        };
        let mut out = vec!["ctid".to_owned(), text(&self.primary_key)];
        out.extend(self.columns.iter().map(|c| text(&c.name)));
        out.extend(self.aad_columns.iter().map(|c| text(c)));
        // Flags reuse the conditions' parameter numbers: same order.
        let mut next = 0;
        out.extend(
            self.locations
                .iter()
                .map(|l| filter_flag_sql(&l.location, &mut next)),
        );
        format!(
            "SELECT {} FROM {} WHERE {}",
            out.join(", "),
            self.qualified(),
            self.scanned(&conditions)
        )
    }

    /// Position of the first AAD column and of the first filter flag in a
    /// row of [`select_sql`](Self::select_sql).
    pub fn first_aad(&self) -> usize {
        COL_FIRST_VALUE + self.columns.len()
    }

    pub fn first_flag(&self) -> usize {
        self.first_aad() + self.aad_columns.len()
    }

    /// One UPDATE per batch, by ctid: `$1` the ctids, then one text array
    /// per column, NULL where that row's column keeps its value.
    pub fn update_sql(&self) -> String {
        let sets: Vec<String> = self
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let name = quote_ident(&c.name);
                format!("{name} = COALESCE(v.c{i}{}, t.{name})", c.kind.cast())
            })
            .collect();
        let arrays: Vec<String> = (0..self.columns.len())
            .map(|i| format!("${}::text[]", i + 2))
            .collect();
        let names: Vec<String> = (0..self.columns.len()).map(|i| format!("c{i}")).collect();
        // The count comes back as a row: an unnamed statement reports no
        // "rows affected" through tokio-postgres.
        format!(
            "WITH u AS (UPDATE {} AS t SET {} FROM unnest($1::tid[], {}) AS v(id, {}) WHERE t.ctid = v.id RETURNING 1) SELECT count(*) FROM u",
            self.qualified(),
            sets.join(", "),
            arrays.join(", "),
            names.join(", ")
        )
    }

    /// Location names for progress and messages.
    pub fn describe(&self) -> String {
        self.locations
            .iter()
            .map(|l| match &l.location.member {
                Some(m) => format!("{}.{m}", l.location.column),
                None => l.location.column.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Text values as the parameters of an unnamed statement (`query_typed`):
/// no statement name can clash with one a pooler's other clients left on
/// the server connection.
pub fn text_params<'a>(params: &'a [&'a str]) -> Vec<(&'a (dyn ToSql + Sync), Type)> {
    params
        .iter()
        .map(|p| (p as &(dyn ToSql + Sync), Type::TEXT))
        .collect()
}

/// A location's row filter as an SQL condition whose values are the
/// parameters after `$next` (which it advances), in filter order. NULL
/// where a filter column is NULL, which a WHERE treats as false; what is
/// selected as a flag goes through [`filter_flag_sql`].
pub fn filter_sql(location: &Location, next: &mut usize) -> String {
    if location.filter.is_empty() {
        return "TRUE".to_owned();
    }
    let terms: Vec<String> = location
        .filter
        .iter()
        .map(|(column, _)| {
            *next += 1;
            format!("{}::text = ${next}", quote_ident(column))
        })
        .collect();
    format!("({})", terms.join(" AND "))
}

/// The filter as a column the scan reads as a `bool`: never NULL.
pub fn filter_flag_sql(location: &Location, next: &mut usize) -> String {
    let condition = filter_sql(location, next);
    if location.filter.is_empty() {
        condition
    } else {
        format!("({condition} IS TRUE)")
    }
}

fn index_of<T>(
    items: &mut Vec<T>,
    name: &str,
    key: impl Fn(&T) -> &String,
    make: impl FnOnce() -> T,
) -> usize {
    match items.iter().position(|item| key(item) == name) {
        Some(i) => i,
        None => {
            items.push(make());
            items.len() - 1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locations::Registry;

    fn plan(table: &str) -> TablePlan {
        let locations = Registry::defaults().resolve("public").unwrap();
        TablePlan::new(
            locations
                .into_iter()
                .filter(|l| l.table == table)
                .map(|l| {
                    let kind = if l.column == "env_vars" {
                        ColumnKind::Jsonb
                    } else {
                        ColumnKind::Text
                    };
                    (l, kind)
                })
                .collect(),
        )
    }

    #[test]
    fn connectors_are_read_once_and_written_once() {
        let p = plan("connectors");
        assert_eq!(p.locations.len(), 2);
        assert_eq!(
            p.select_sql(),
            "SELECT ctid, \"id\"::text, \"auth_config\"::text, \"env_vars\"::text, TRUE, TRUE \
             FROM \"public\".\"connectors\" \
             WHERE (TRUE AND \"auth_config\" IS NOT NULL) OR (TRUE AND \"env_vars\" IS NOT NULL)"
        );
        assert_eq!(
            p.update_sql(),
            "WITH u AS (UPDATE \"public\".\"connectors\" AS t SET \"auth_config\" = COALESCE(v.c0, t.\"auth_config\"), \
             \"env_vars\" = COALESCE(v.c1::jsonb, t.\"env_vars\") \
             FROM unnest($1::tid[], $2::text[], $3::text[]) AS v(id, c0, c1) WHERE t.ctid = v.id RETURNING 1) \
             SELECT count(*) FROM u"
        );
        assert!(p.params().is_empty());
        assert_eq!(p.describe(), "auth_config, env_vars.$enc");
    }

    #[test]
    fn filters_are_parameters_and_aad_columns_are_read() {
        let p = plan("org_settings");
        assert_eq!(p.params(), ["alert_webhook"]);
        assert_eq!(p.aad_columns, ["organization_id"]);
        assert_eq!(
            p.select_sql(),
            "SELECT ctid, \"id\"::text, \"value\"::text, \"organization_id\"::text, ((\"key\"::text = $1) IS TRUE) \
             FROM \"public\".\"org_settings\" WHERE ((\"key\"::text = $1) AND \"value\" IS NOT NULL)"
        );
        assert_eq!(
            p.count_sql(),
            "SELECT count(*) FILTER (WHERE (\"key\"::text = $1)), \
             count(*) FILTER (WHERE (\"key\"::text = $1) AND \"value\" IS NULL), \
             count(*) FILTER (WHERE ((\"key\"::text = $1) AND \"value\" IS NOT NULL)) \
             FROM \"public\".\"org_settings\""
        );
        assert_eq!((p.first_aad(), p.first_flag()), (3, 4));
        let raw = TablePlan {
            raw_text: true,
            ..p
        };
        assert!(raw.select_sql().starts_with(
            "SELECT ctid, convert_to(\"id\"::text, 'SQL_ASCII'), convert_to(\"value\"::text, 'SQL_ASCII'), \
             convert_to(\"organization_id\"::text, 'SQL_ASCII'), "
        ));
    }

    #[test]
    fn template_columns_are_shared_and_hostile_names_stay_quoted() {
        let p = plan("identity_providers");
        assert_eq!(p.aad_columns, ["id", "organization_id"]);
        assert_eq!(p.locations[0].aad_columns, [0, 1]);

        let mut r = Registry::defaults();
        r.add_file(r#"[{"table":"t\"; DROP TABLE x; --","primaryKey":"id","column":"c","where":{"k\"":"'; DELETE"}}]"#)
            .unwrap();
        let l = r.resolve("public").unwrap().pop().unwrap();
        let p = TablePlan::new(vec![(l, ColumnKind::Text)]);
        assert!(p
            .select_sql()
            .contains("FROM \"public\".\"t\"\"; DROP TABLE x; --\""));
        assert!(p.select_sql().contains("(\"k\"\"\"::text = $1)"));
        assert!(!p.select_sql().contains("DELETE"));
        assert_eq!(p.params(), ["'; DELETE"]);
    }
}
