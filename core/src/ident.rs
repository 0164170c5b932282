//! SQL identifiers. Every table, schema and column name reaches SQL only
//! through [`quote_ident`], so nothing from options or from the database is
//! ever spliced in unquoted.

/// Quote an identifier the way PostgreSQL's `quote_ident` does: always, so
/// case, quotes, dots and semicolons all stay part of the name.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_hostile_names_into_single_identifiers() {
        assert_eq!(quote_ident("auth_config"), "\"auth_config\"");
        assert_eq!(quote_ident("My \"Schema\""), "\"My \"\"Schema\"\"\"");
        assert_eq!(
            quote_ident("x\"; DROP TABLE connectors; --"),
            "\"x\"\"; DROP TABLE connectors; --\""
        );
    }
}
