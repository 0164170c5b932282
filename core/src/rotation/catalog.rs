//! Checking the registry against this database's catalog: which locations
//! exist, whether their tables can be rotated safely, and the table plans
//! the scan follows.

use tokio_postgres::types::Type;
use tokio_postgres::{Client, Transaction};

use crate::error::{Error, Invalid, Missing, Result, Unsupported};
use crate::locations::{Origin, ResolvedLocation};
use crate::report::{Findings, LocationReport, LocationStatus};
use crate::warning::{Warning, WarningCode};

use super::dberror::db_error;
use super::plan::{ColumnKind, TablePlan};

/// The registry as it applies here: plans for the tables that exist, and
/// reports for the locations that do not.
pub struct Resolved {
    pub plans: Vec<TablePlan>,
    pub absent: Vec<LocationReport>,
}

/// A table as the catalog describes it.
struct TableInfo {
    split: bool,
    row_security: bool,
    triggers: i64,
    columns: Vec<(String, Option<ColumnKind>, String)>,
}

impl TableInfo {
    fn column(&self, name: &str) -> Option<(Option<ColumnKind>, &str)> {
        self.columns
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, kind, ty)| (*kind, ty.as_str()))
    }
}

/// What the catalog says about each of `tables` (`None`: no such table),
/// in one statement, and whether the database stores text as raw bytes
/// (SQL_ASCII). One statement, not two per table: on a small installation
/// these reads were a measurable part of the whole run.
async fn table_infos(
    tx: &Transaction<'_>,
    tables: &[(&str, &str)],
) -> Result<(bool, Vec<Option<TableInfo>>)> {
    let schemas: Vec<&str> = tables.iter().map(|t| t.0).collect();
    let names: Vec<&str> = tables.iter().map(|t| t.1).collect();
    let rows = tx
        .query_typed(
            "SELECT w.i, t.relkind = 'p' OR t.relhassubclass, row_security_active(t.oid), \
                    (SELECT count(*) FROM pg_catalog.pg_trigger tg WHERE tg.tgrelid = t.oid \
                       AND NOT tg.tgisinternal AND tg.tgenabled <> 'D'), \
                    a.attname, \
                    CASE WHEN a.atttypid IN ('text'::regtype, 'varchar'::regtype) THEN 'text' \
                         WHEN a.atttypid = 'json'::regtype THEN 'json' \
                         WHEN a.atttypid = 'jsonb'::regtype THEN 'jsonb' END, \
                    format_type(a.atttypid, a.atttypmod) \
             FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS w(schema, name, i) \
             JOIN pg_catalog.pg_namespace n ON n.nspname = w.schema \
             JOIN pg_catalog.pg_class t ON t.relnamespace = n.oid AND t.relname = w.name \
                                        AND t.relkind IN ('r', 'p') \
             LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 \
                                                AND NOT a.attisdropped",
            &[(&schemas, Type::TEXT_ARRAY), (&names, Type::TEXT_ARRAY)],
        )
        .await
        .map_err(db_error)?;
    let raw_text = tx
        .query_typed_one(
            "SELECT current_setting('server_encoding') = 'SQL_ASCII'",
            &[],
        )
        .await
        .map_err(db_error)?
        .get::<_, bool>(0);
    let kind = |k: Option<&str>| match k {
        Some("text") => Some(ColumnKind::Text),
        Some("json") => Some(ColumnKind::Json),
        Some("jsonb") => Some(ColumnKind::Jsonb),
        _ => None,
    };
    let mut infos: Vec<Option<TableInfo>> = tables.iter().map(|_| None).collect();
    for row in &rows {
        let Some(info) = usize::try_from(row.get::<_, i64>(0) - 1)
            .ok()
            .and_then(|i| infos.get_mut(i))
        else {
            continue;
        };
        let info = info.get_or_insert_with(|| TableInfo {
            split: row.get(1),
            row_security: row.get(2),
            triggers: row.get(3),
            columns: Vec::new(),
        });
        // In a SQL_ASCII database a name may hold any bytes; such a column
        // cannot be one the registry names, so it is simply not listed.
        let Ok(Some(name)) = row.try_get::<_, Option<String>>(4) else {
            continue;
        };
        let ty = row
            .try_get::<_, String>(6)
            .unwrap_or_else(|_| "(a type whose name is not UTF-8)".to_owned());
        info.columns.push((name, kind(row.get(5)), ty));
    }
    Ok((raw_text, infos))
}

/// Group the locations by table, check each table against the catalog, and
/// plan the scans.
pub async fn resolve(
    tx: &Transaction<'_>,
    locations: &[ResolvedLocation],
    findings: &mut Findings,
) -> Result<Resolved> {
    let mut tables: Vec<(&str, &str)> = locations
        .iter()
        .map(|l| (l.schema(), l.table.as_str()))
        .collect();
    tables.sort_unstable();
    tables.dedup();

    let mut resolved = Resolved {
        plans: Vec::new(),
        absent: Vec::new(),
    };
    let (raw_text, infos) = table_infos(tx, &tables).await?;
    for ((schema, table), info) in tables.into_iter().zip(infos) {
        let here: Vec<&ResolvedLocation> = locations
            .iter()
            .filter(|l| l.schema() == schema && l.table == table)
            .collect();
        let mut present = Vec::new();
        for location in here {
            let column = info.as_ref().and_then(|i| i.column(&location.column));
            let Some((kind, ty)) = column else {
                let missing = match &info {
                    None => Missing::Table,
                    Some(_) => Missing::Column,
                };
                absent(location, missing, &mut resolved)?;
                continue;
            };
            let info = info.as_ref().expect("a column implies its table");
            let kind = check_location(location, info, kind, ty)?;
            present.push((location.clone(), kind));
        }
        if present.is_empty() {
            continue;
        }
        let info = info.expect("present locations imply their table");
        if present
            .iter()
            .any(|(l, _)| l.primary_key != present[0].0.primary_key)
        {
            return Err(Error::TableUnsupported {
                place: Box::new(present[0].0.place()),
                why: Unsupported::MixedPrimaryKeys,
            });
        }
        if info.row_security {
            return Err(Error::RowSecurity {
                schema: schema.to_owned(),
                table: table.to_owned(),
            });
        }
        warn_about_triggers(schema, table, &info, findings);
        resolved.plans.push(TablePlan {
            raw_text,
            ..TablePlan::new(present)
        });
    }
    Ok(resolved)
}

fn absent(location: &ResolvedLocation, missing: Missing, resolved: &mut Resolved) -> Result<()> {
    match location.origin {
        // A release without this location: report it, with the migration
        // that would add it.
        Origin::Default => {
            let mut report = LocationReport::new(location, LocationStatus::Absent);
            report.absent_reason = Some(match &location.since {
                Some(since) => format!("{missing} (added by migration {since})"),
                None => missing.to_string(),
            });
            resolved.absent.push(report);
            Ok(())
        }
        Origin::Required | Origin::Explicit => Err(Error::ColumnNotFound {
            place: Box::new(location.place()),
            missing,
            required: location.origin == Origin::Required,
        }),
    }
}

/// Refuse what cannot be rotated safely; otherwise the column's kind.
fn check_location(
    location: &ResolvedLocation,
    info: &TableInfo,
    kind: Option<ColumnKind>,
    ty: &str,
) -> Result<ColumnKind> {
    let unsupported = |why| {
        Err(Error::TableUnsupported {
            place: Box::new(location.place()),
            why,
        })
    };
    if info.split {
        return unsupported(Unsupported::PartitionedOrInherited);
    }
    let kind = match (kind, &location.member) {
        (Some(ColumnKind::Text), None) => ColumnKind::Text,
        (Some(kind), Some(_)) => kind,
        _ => {
            return unsupported(Unsupported::ColumnType {
                ty: ty.to_owned(),
                member: location.member.is_some(),
            })
        }
    };
    let needed = std::iter::once(Missing::PrimaryKey(location.primary_key.clone()))
        .chain(
            location
                .filter
                .iter()
                .map(|(c, _)| Missing::FilterColumn(c.clone())),
        )
        .chain(
            location
                .aad
                .columns()
                .iter()
                .map(|c| Missing::AadColumn(c.clone())),
        );
    for missing in needed {
        let (Missing::PrimaryKey(column)
        | Missing::FilterColumn(column)
        | Missing::AadColumn(column)) = &missing
        else {
            unreachable!("only columns are checked here")
        };
        if info.column(column).is_none() {
            return Err(Error::ColumnNotFound {
                place: Box::new(location.place()),
                missing,
                required: location.origin == Origin::Required,
            });
        }
    }
    Ok(kind)
}

fn warn_about_triggers(schema: &str, table: &str, info: &TableInfo, findings: &mut Findings) {
    if info.triggers > 0 {
        findings.warnings.push(Warning {
            code: WarningCode::TableTriggers,
            message: format!(
                "{schema}.{table} has {} user trigger(s); they fire on the rotation's UPDATE and may change other columns",
                info.triggers
            ),
        });
    }
}

/// A location's rows are named in reports and errors by its `primaryKey`,
/// so only a column that names rows may be one: the table's primary key, or
/// a NOT NULL column with a unique index of its own (one column, no
/// predicate, no expression). Anything else could print any column of a
/// table (a password hash) for every value that fails. Checked before any
/// row is read; a table or column that does not exist is the catalog's
/// business later.
pub async fn check_row_names(client: &Client, locations: &[ResolvedLocation]) -> Result<()> {
    let mut keys: Vec<(&str, &str, &str)> = locations
        .iter()
        .map(|l| (l.schema(), l.table.as_str(), l.primary_key.as_str()))
        .collect();
    keys.sort_unstable();
    keys.dedup();
    let column = |i: usize| {
        keys.iter()
            .map(move |k| [k.0, k.1, k.2][i])
            .collect::<Vec<_>>()
    };
    let (schemas, tables, names) = (column(0), column(1), column(2));
    let refused = client
        .query_typed(
            "SELECT l.s, l.t, l.k FROM unnest($1::text[], $2::text[], $3::text[]) AS l(s, t, k) \
             JOIN pg_catalog.pg_namespace n ON n.nspname = l.s \
             JOIN pg_catalog.pg_class r ON r.relnamespace = n.oid AND r.relname = l.t AND r.relkind IN ('r', 'p') \
             JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attname = l.k AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
                 WHERE i.indrelid = r.oid AND i.indnkeyatts = 1 AND i.indkey[0] = a.attnum \
                   AND (i.indisprimary OR (i.indisunique AND a.attnotnull \
                        AND i.indpred IS NULL AND i.indexprs IS NULL))) \
             ORDER BY 1, 2, 3",
            &[
                (&schemas, Type::TEXT_ARRAY),
                (&tables, Type::TEXT_ARRAY),
                (&names, Type::TEXT_ARRAY),
            ],
        )
        .await
        .map_err(db_error)?;
    match refused.first() {
        None => Ok(()),
        Some(row) => Err(Invalid::RowName {
            schema: row.get(0),
            table: row.get(1),
            column: row.get(2),
        }
        .into()),
    }
}
