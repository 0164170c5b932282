//! What `_prisma_migrations` says about the database: which release it is
//! at, and which of its migrations the registry was not written against (a
//! newer release may seal secrets somewhere the registry does not list).

use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

use crate::ident::quote_ident;
use crate::locations::KnownMigrations;
use crate::report::{Findings, Migrations};
use crate::warning::{Warning, WarningCode};
use crate::Result;

use super::dberror::db_error;

const TABLE: &str = "_prisma_migrations";

pub async fn read(
    tx: &Transaction<'_>,
    schema: &str,
    known: &KnownMigrations,
    findings: &mut Findings,
) -> Result<Migrations> {
    // Checked first: a failed query would abort the rotation's transaction.
    let row = tx
        .query_typed_opt(
            "SELECT has_table_privilege(c.oid, 'SELECT') AND NOT row_security_active(c.oid) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v')",
            &[(&schema, Type::TEXT), (&TABLE, Type::TEXT)],
        )
        .await
        .map_err(db_error)?;
    let mut report = Migrations::default();
    match row.map(|r| r.get::<_, bool>(0)) {
        None => return Ok(report),
        Some(false) => {
            findings.notices.push(format!(
                "{schema}.{TABLE} exists but this role may not read all of it; the release was not checked"
            ));
            return Ok(report);
        }
        Some(true) => report.present = true,
    }
    // Read through to_jsonb so that a table of that name with other columns
    // yields nothing instead of an error that would abort the transaction.
    let names: Vec<String> = tx
        .query_typed(
            &format!(
                "SELECT name FROM (SELECT to_jsonb(m) ->> 'migration_name' AS name, \
                        to_jsonb(m) ->> 'finished_at' AS finished, \
                        to_jsonb(m) ->> 'rolled_back_at' AS rolled_back FROM {}.{} m) s \
                 WHERE name IS NOT NULL AND finished IS NOT NULL AND rolled_back IS NULL \
                 ORDER BY name COLLATE \"C\"",
                quote_ident(schema),
                quote_ident(TABLE)
            ),
            &[],
        )
        .await
        .map_err(db_error)?
        .iter()
        .map(|r| {
            r.try_get::<_, String>(0)
                .unwrap_or_else(|_| "(a name that is not valid UTF-8)".to_owned())
        })
        .collect();
    report.applied = names.len() as u64;
    report.newest = names.last().cloned();
    report.unknown = names.into_iter().filter(|n| !known.knows(n)).collect();
    if !report.unknown.is_empty() {
        findings.warnings.push(Warning {
            code: WarningCode::UnknownMigrations,
            message: format!(
                "the database has {} migration(s) this registry does not know ({}); a newer release may seal secrets in places the registry does not list. Check its release notes, and add such locations with --columns-file",
                report.unknown.len(),
                report.unknown.join(", ")
            ),
        });
    }
    Ok(report)
}
