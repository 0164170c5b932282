//! Driver errors in keyrotate's terms: the SQLSTATE and the server's message,
//! never a statement's parameters.

use tokio_postgres::error::SqlState;

use crate::error::{Error, LockKind};

pub fn db_error(e: tokio_postgres::Error) -> Error {
    if e.code() == Some(&SqlState::LOCK_NOT_AVAILABLE) {
        return lock_error(e, LockKind::Other);
    }
    match e.as_db_error() {
        Some(db) => Error::Db {
            reason: db.message().to_owned(),
            sqlstate: Some(db.code().code().to_owned()),
        },
        None if e.is_closed() => Error::Db {
            reason: "the connection to the server was lost".to_owned(),
            sqlstate: None,
        },
        None => Error::Db {
            reason: e.to_string(),
            sqlstate: None,
        },
    }
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
