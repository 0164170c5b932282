//! What every call of the API resolves with, as JS receives it: the value,
//! or the error as code, message, hint and details, with a refused
//! rotation's report beside it. Promises from the binding never reject
//! with these; `index.js` turns a failure into a `KeyrotateError`.

use serde::Serialize;

use crate::connection::{ConnectionTarget, DatabaseIdentity};
use crate::error::{Error, Result};
use crate::key::KeyPair;
use crate::report::{Rejection, RotationReport};
use crate::warning::Warning;

#[derive(Debug, Serialize)]
pub struct Outcome<T> {
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<T>,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    failure: Option<Failure>,
}

#[derive(Debug, Serialize)]
struct Failure {
    code: &'static str,
    message: String,
    hint: String,
    details: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Box<RotationReport>>,
}

impl Failure {
    fn of(error: &Error, report: Option<Box<RotationReport>>) -> Self {
        Failure {
            code: error.code(),
            message: error.to_string(),
            hint: error.hint(),
            details: error.details(),
            report,
        }
    }
}

impl<T: Serialize> Outcome<T> {
    pub fn of(result: Result<T>) -> Self {
        match result {
            Ok(value) => Outcome::done(value),
            Err(error) => Outcome::failed(Failure::of(&error, None)),
        }
    }

    fn done(value: T) -> Self {
        Outcome {
            ok: true,
            value: Some(value),
            failure: None,
        }
    }

    fn failed(failure: Failure) -> Self {
        Outcome {
            ok: false,
            value: None,
            failure: Some(failure),
        }
    }
}

impl Outcome<RotationReport> {
    /// A refused rotation keeps its report (a dry run's findings) beside
    /// the error.
    pub fn of_rotation(result: Result<RotationReport, Rejection>) -> Self {
        match result {
            Ok(report) => Outcome::done(report),
            Err(Rejection { error, report }) => Outcome::failed(Failure::of(&error, report)),
        }
    }
}

/// A key pair, checked without connecting anywhere.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeysChecked {
    pub old_key_fingerprint: String,
    pub new_key_fingerprint: String,
    pub warnings: Vec<Warning>,
}

impl From<&KeyPair> for KeysChecked {
    fn from(keys: &KeyPair) -> Self {
        KeysChecked {
            old_key_fingerprint: keys.old.fingerprint().to_owned(),
            new_key_fingerprint: keys.new.fingerprint().to_owned(),
            warnings: keys.warnings.clone(),
        }
    }
}

/// A connection string, read without connecting: what a confirmation
/// prompt shows, never the password.
#[derive(Debug, Serialize)]
pub struct DatabaseDescribed {
    /// `host:port/database`.
    pub database: String,
    pub target: DatabaseIdentity,
    pub notices: Vec<String>,
}

impl From<&ConnectionTarget> for DatabaseDescribed {
    fn from(target: &ConnectionTarget) -> Self {
        DatabaseDescribed {
            database: target.describe(),
            target: target.identity(),
            notices: target.notices().to_vec(),
        }
    }
}
