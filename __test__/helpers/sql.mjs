// SQL identifiers and literals for the helpers' own DDL and queries.

/** Quote an SQL identifier (any string, including ones with quotes or dashes). */
export function quoteIdent(name) {
  return '"' + String(name).replace(/"/g, '""') + '"';
}

/** Quote an SQL string literal (for DDL, where parameters cannot go). */
export function quoteLiteral(s) {
  return "'" + String(s).replace(/'/g, "''") + "'";
}
