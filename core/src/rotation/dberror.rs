//! Driver errors in keyrotate's terms: the SQLSTATE and the server's message,
//! never a statement's parameters.

use tokio_postgres::error::SqlState;

use crate::error::{Error, LockKind};

pub fn db_error(e: tokio_postgres::Error) -> Error {
    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        return lock_error(e, LockKind::Other);
    }
    let client_side = |reason: String| Error::Db {
        reason,
        sqlstate: None,
        detail: None,
        hint: None,
    };
    match e.as_db_error() {
        Some(db) => {
            let state = db.code().code();
            Error::Db {
                reason: db.message().to_owned(),
                sqlstate: Some(state.to_owned()),
                detail: db.detail().map(|d| match quotes_values(state) {
                    true => "withheld: for this error PostgreSQL quotes row values, which may be secrets".to_owned(),
                    false => d.to_owned(),
                }),
                hint: db.hint().map(str::to_owned),
            }
        }
        None if e.is_closed() => client_side("the connection to the server was lost".to_owned()),
        None => client_side(e.to_string()),
    }
}

/// Integrity violations ("Failing row contains (...)", "Key (...)=(...)")
/// and data exceptions quote the values of a row in their detail; a row of a
/// rotated table holds sealed values and, beside them, plaintext a rotation
/// never prints.
fn quotes_values(sqlstate: &str) -> bool {
    sqlstate.starts_with("23") || sqlstate.starts_with("22")
}

/// A COMMIT the server answered with an error did not happen; one whose
/// answer never came may have.
pub fn commit_error(e: tokio_postgres::Error) -> Error {
    if e.as_db_error().is_some() {
        db_error(e)
    } else {
        Error::CommitUnknown {
            reason: e.to_string(),
        }
    }
}

pub fn lock_error(e: tokio_postgres::Error, lock: LockKind) -> Error {
    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        Error::LockTimeout {
            lock,
            holders: Vec::new(),
        }
    } else {
        db_error(e)
    }
}
