//! What discovery searches: the text, json and jsonb columns of the
//! registry's schemas, table by table, less the cells the registry itself
//! covers.

use std::collections::BTreeMap;

use tokio_postgres::types::Type;
use tokio_postgres::Client;

use crate::error::Result;
use crate::locations::ResolvedLocation;

use super::column::Column;
use crate::rotation::dberror::db_error;
use crate::rotation::session::read_only;

/// The text, json and jsonb columns of the registry's schemas, by table,
/// and the tables discovery may not read whole.
pub(super) struct Catalog {
    pub(super) tables: BTreeMap<(String, String), Vec<(String, bool)>>,
    pub(super) skipped: BTreeMap<String, &'static str>,
    /// Columns whose names are not UTF-8 (a SQL_ASCII database).
    pub(super) unnamed: usize,
}

impl Catalog {
    pub(super) async fn read(
        client: &mut Client,
        locations: &[ResolvedLocation],
        lock_ms: u128,
    ) -> Result<Catalog> {
        let mut schemas: Vec<&str> = locations.iter().map(|l| l.schema()).collect();
        schemas.sort_unstable();
        schemas.dedup();
        let tx = read_only(client, lock_ms).await?;
        let rows = tx
            .query_typed(
                // Domains count as their base type, and citext (an
                // extension's type, so known by name) as text.
                "SELECT n.nspname, c.relname, a.attname, \
                        has_column_privilege(c.oid, a.attnum, 'SELECT'), row_security_active(c.oid), \
                        COALESCE(NULLIF(t.typbasetype, 0), t.oid) = 'jsonb'::regtype \
                 FROM pg_attribute a \
                 JOIN pg_class c ON c.oid = a.attrelid \
                 JOIN pg_namespace n ON n.oid = c.relnamespace \
                 JOIN pg_type t ON t.oid = a.atttypid \
                 WHERE n.nspname = ANY($1) AND c.relkind IN ('r', 'p', 'm') AND NOT c.relispartition \
                   AND c.relispopulated \
                   AND a.attnum > 0 AND NOT a.attisdropped \
                   AND (COALESCE(NULLIF(t.typbasetype, 0), t.oid) IN \
                            ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, \
                             'json'::regtype, 'jsonb'::regtype) \
                        OR t.typname = 'citext') \
                 ORDER BY 1, 2, 3",
                &[(&schemas, Type::TEXT_ARRAY)],
            )
            .await
            .map_err(db_error)?;
        tx.rollback().await.map_err(db_error)?;
        let mut catalog = Catalog {
            tables: BTreeMap::new(),
            skipped: BTreeMap::new(),
            unnamed: 0,
        };
        for row in rows {
            let names = (
                row.try_get::<_, String>(0),
                row.try_get::<_, String>(1),
                row.try_get::<_, String>(2),
            );
            let (Ok(schema), Ok(table), Ok(column)) = names else {
                catalog.unnamed += 1;
                continue;
            };
            if row.get::<_, bool>(4) {
                catalog.skipped.insert(
                    format!("{schema}.{table}"),
                    "row-level security would filter its rows",
                );
            } else if !row.get::<_, bool>(3) {
                catalog
                    .skipped
                    .insert(format!("{schema}.{table}"), "this role may not read it");
            } else {
                catalog
                    .tables
                    .entry((schema, table))
                    .or_default()
                    .push((column, row.get::<_, bool>(5)));
            }
        }
        Ok(catalog)
    }
}

/// The columns of one table to search: all but those a whole-value
/// location covers on every row.
pub(super) fn outside_registry<'a>(
    (schema, table): &'a (String, String),
    columns: &'a [(String, bool)],
    locations: &'a [ResolvedLocation],
    constants: &'a [&'a str],
) -> Vec<Column<'a>> {
    columns
        .iter()
        .filter_map(|(column, jsonb)| {
            let registered: Vec<&ResolvedLocation> = locations
                .iter()
                .filter(|l| l.schema() == schema && l.table == *table && l.column == *column)
                .collect();
            let covered = registered
                .iter()
                .any(|l| l.member.is_none() && l.filter.is_empty());
            // A member every row holds in a jsonb column is left out of
            // what is searched, so that the server, not this process,
            // drops the registry's own ciphertext.
            let strip = registered
                .iter()
                .filter(|l| *jsonb && l.filter.is_empty())
                .filter_map(|l| l.member.as_deref())
                .collect();
            (!covered).then(|| Column {
                schema,
                table,
                column,
                strip,
                registered,
                own_aad: format!("{table}.{column}"),
                constants,
            })
        })
        .collect()
}
