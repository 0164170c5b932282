//! The settings a keyrotate transaction runs under, whatever the server, the
//! database or the role has as defaults.

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
        "SET LOCAL lock_timeout = {lock_ms}; SET LOCAL statement_timeout = 0; \
         SET LOCAL row_security = off; SET LOCAL jit = off"
    );
    if durable_commit {
        sql.push_str("; SET LOCAL synchronous_commit = on");
    }
    sql
}
