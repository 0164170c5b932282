//! The settings keyrotate's sessions and transactions run under, whatever
//! the server, the database or the role has as defaults.

/// Run once per connection (session-level, so it also covers the moment
/// between `BEGIN` and the first statement): a role or database default of
/// `statement_timeout`, `idle_in_transaction_session_timeout` or (PostgreSQL
/// 17 and later) `transaction_timeout` would cut a long rotation short and
/// roll it back. Reading the names from `pg_settings` sets only those this
/// server has, so PostgreSQL before 17, without `transaction_timeout`, works
/// unchanged. The connection is keyrotate's alone.
pub const SERVER_TIMEOUTS_OFF: &str = "SELECT pg_catalog.set_config(name, '0', false) \
     FROM pg_catalog.pg_settings \
     WHERE name IN ('statement_timeout', 'idle_in_transaction_session_timeout', 'transaction_timeout')";

/// Transaction-local settings; the values are our own integers, never
/// operator text.
/// - `row_security = off`: under row-level security a rotation would see,
///   and rewrite, only some rows and still commit; off, PostgreSQL refuses
///   with an error instead.
/// - `synchronous_commit = on` (rotations): the operator switches keys once
///   the command says it committed, so the commit must be durable whatever
///   the server, database or role default is.
/// - `jit = off`: measured (docs/benchmarks.md), JIT only adds compile time
///   to these plain scans; `work_mem` made no difference, so it is left alone.
pub fn session_settings(lock_ms: u128, durable_commit: bool) -> String {
    let mut sql = format!(
        "SET LOCAL lock_timeout = {lock_ms}; SET LOCAL row_security = off; SET LOCAL jit = off"
    );
    if durable_commit {
        sql.push_str("; SET LOCAL synchronous_commit = on");
    }
    sql
}
