//! The N-API binding: converts JS arguments, calls the core, and hands back a
//! plain outcome object. `index.js` turns failed outcomes into `Error`s with a
//! stable `code`, because napi-rs promises can only reject with its own
//! status codes.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyrotate_core::cancel::Cancel;
use keyrotate_core::connection::{self as connection, ConnectionTarget};
use keyrotate_core::key::{self, Key, KeyPair, KeyPolicy};
use keyrotate_core::locations::{Location, Registry};
use keyrotate_core::report::{Rejection, RotationReport};
use keyrotate_core::rotation::{self, Progress};
use keyrotate_core::{Error, KeyRole};
use napi::bindgen_prelude::{Buffer, Either, Function, JsObjectValue, Object, PromiseRaw};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;
use serde_json::{json, Value};
use zeroize::Zeroizing;

/// A key from JS: a string (as in `ENCRYPTION_KEY`) or a Buffer of its UTF-8.
type KeyInput = Either<String, Buffer>;

/// One extra plain location: the whole value of a text column, no AAD.
#[napi(object)]
pub struct ColumnSpec {
    pub schema: Option<String>,
    pub table: String,
    pub primary_key: String,
    pub column: String,
}

#[napi(object)]
pub struct NativeOptions {
    pub dry_run: Option<bool>,
    /// `[schema.]table.primaryKey.column` strings or objects.
    pub columns: Option<Vec<Either<String, ColumnSpec>>>,
    /// Path of a locations file (the registry's format).
    pub columns_file: Option<String>,
    /// u32 wraps larger numbers; index.js's option table keeps them out.
    pub lock_timeout_ms: Option<u32>,
    pub discover: Option<bool>,
    pub allow_unregistered: Option<bool>,
    pub allow_whitespace: Option<bool>,
    pub batch_size: Option<u32>,
    /// `KG_HASH_SECRET` is set (index.js compares it with the old key; the
    /// secret itself never crosses): whether it is the old key.
    pub kg_pinned_to_old_key: Option<bool>,
    pub kg_relink: Option<bool>,
    /// Who runs the rotation, for its audit event (index.js asks the OS).
    pub audit_user: Option<String>,
    pub audit_host: Option<String>,
    /// The schema to act on, over the URL's `?schema=`.
    pub schema: Option<String>,
}

/// Progress reaches JS as plain objects tagged by `phase` (index.d.ts).
type ProgressCallback = ThreadsafeFunction<Value, (), Value, Status, false>;

/// Copy the key into memory we wipe. The JS string itself is beyond our
/// reach; the docs tell callers to prefer Buffers they can `fill(0)`.
fn key_bytes(input: KeyInput) -> Zeroizing<Vec<u8>> {
    match input {
        Either::A(s) => Zeroizing::new(Zeroizing::new(s).as_bytes().to_vec()),
        Either::B(b) => Zeroizing::new(b.to_vec()),
    }
}

fn policy(options: &Option<NativeOptions>) -> KeyPolicy {
    KeyPolicy {
        allow_whitespace: options
            .as_ref()
            .and_then(|o| o.allow_whitespace)
            .unwrap_or(false),
    }
}

/// The shipped registry plus the caller's locations.
fn registry(options: &Option<NativeOptions>) -> keyrotate_core::Result<Registry> {
    let mut registry = Registry::defaults();
    let Some(options) = options else {
        return Ok(registry);
    };
    if let Some(path) = &options.columns_file {
        registry.add_file_at(std::path::Path::new(path))?;
    }
    for spec in options.columns.iter().flatten() {
        registry.add(match spec {
            Either::A(s) => Location::parse_spec(s)?,
            Either::B(c) => {
                Location::plain(c.schema.as_deref(), &c.table, &c.primary_key, &c.column)?
            }
        });
    }
    Ok(registry)
}

fn rotate_options(
    options: &Option<NativeOptions>,
    cancel: &Cancel,
) -> keyrotate_core::Result<rotation::RotateOptions> {
    let mut out = rotation::RotateOptions {
        registry: registry(options)?,
        cancel: cancel.clone(),
        ..rotation::RotateOptions::default()
    };
    if let Some(o) = options {
        out.dry_run = o.dry_run.unwrap_or(false);
        out.allow_unregistered = o.allow_unregistered.unwrap_or(false);
        if let Some(ms) = o.lock_timeout_ms {
            out.lock_timeout = Duration::from_millis(ms.into());
        }
        out.discover = o.discover.unwrap_or(true);
        if let Some(b) = o.batch_size {
            out.batch_size = b as usize;
        }
        out.graph_key = match (o.kg_relink, o.kg_pinned_to_old_key) {
            (Some(true), _) => rotation::GraphKey::Relink,
            (_, Some(to_old_key)) => rotation::GraphKey::Pinned { to_old_key },
            _ => rotation::GraphKey::Unpinned,
        };
        out.actor = rotation::Actor {
            os_user: o.audit_user.clone(),
            host: o.audit_host.clone(),
        };
        out.schema = o.schema.clone();
    }
    Ok(out)
}

/// Verify takes the options a rotation shares with it; the rest do not apply.
fn verify_options(
    options: &Option<NativeOptions>,
    cancel: &Cancel,
) -> keyrotate_core::Result<rotation::VerifyOptions> {
    let shared = rotate_options(options, cancel)?;
    Ok(rotation::VerifyOptions {
        registry: shared.registry,
        discover: shared.discover,
        batch_size: shared.batch_size,
        cancel: shared.cancel,
        graph_key: shared.graph_key,
        schema: shared.schema,
    })
}

fn progress_sink(callback: Option<ProgressCallback>) -> impl Fn(&Progress) + Sync {
    move |p: &Progress| {
        if let (Some(cb), Ok(event)) = (&callback, serde_json::to_value(p)) {
            // Non-blocking: a slow JS callback must never stall the rotation
            // that holds the table locks.
            cb.call(event, ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

fn failure(e: &Error) -> Value {
    json!({
        "ok": false,
        "code": e.code(),
        "message": e.to_string(),
        "hint": e.hint(),
        "details": e.details(),
    })
}

fn outcome<T: serde::Serialize>(result: keyrotate_core::Result<T>) -> Value {
    match result {
        Ok(report) => json!({ "ok": true, "value": report }),
        Err(e) => failure(&e),
    }
}

/// A rejected rotation keeps its report (a dry run's findings) beside the
/// error.
fn rotation_outcome(result: Result<RotationReport, Rejection>) -> Value {
    match result {
        Ok(report) => json!({ "ok": true, "value": report }),
        Err(rejection) => {
            let mut value = failure(&rejection.error);
            if let (Some(report), Some(fields)) = (rejection.report, value.as_object_mut()) {
                fields.insert("report".into(), json!(report));
            }
            value
        }
    }
}

/// Trust what the Node that loads the addon trusts, as the backend's driver
/// does: its bundled CAs (`tls.rootCertificates`), read once, and only for a
/// URL that checks certificates against the default CAs: building that list
/// costs Node about ten milliseconds, more than a small rotation's whole
/// survey. Node before 20.16 has no `process.getBuiltinModule`; the core
/// then uses webpki-roots' copy of Mozilla's list (docs/connection.md).
fn trust_this_nodes_cas(env: &Env, database_url: &str) -> napi::Result<()> {
    static HANDED_OVER: OnceLock<()> = OnceLock::new();
    let needed = ConnectionTarget::parse(database_url).is_ok_and(|t| t.trusts_default_cas());
    if !needed || HANDED_OVER.get().is_some() {
        return Ok(());
    }
    let process: Object = env.get_global()?.get_named_property("process")?;
    let Ok(get_builtin) = process.get_named_property::<Function<&str, Object>>("getBuiltinModule")
    else {
        return Ok(());
    };
    let pems: Vec<String> = get_builtin
        .call("tls")?
        .get_named_property("rootCertificates")?;
    connection::trust_node_bundled_cas(&pems)
        .map_err(|e| napi::Error::from_reason(e.to_string()))?;
    HANDED_OVER.get_or_init(|| ());
    Ok(())
}

/// One rotation or verify, which JS may cancel (an `AbortSignal`) until its
/// COMMIT is sent.
#[napi]
pub struct Run {
    cancel: Cancel,
}

impl Default for Run {
    fn default() -> Self {
        Self::new()
    }
}

#[napi]
impl Run {
    #[napi(constructor)]
    pub fn new() -> Self {
        Run {
            cancel: Cancel::new(),
        }
    }

    /// Stop the run, unless its COMMIT was already sent.
    #[napi]
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Rotate every registry value from `oldKey` to `newKey` in one transaction.
    #[napi(ts_return_type = "Promise<NativeOutcome>")]
    pub fn rotate<'env>(
        &self,
        env: &'env Env,
        old_key: KeyInput,
        new_key: KeyInput,
        database_url: String,
        options: Option<NativeOptions>,
        on_progress: Option<ProgressCallback>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        trust_this_nodes_cas(env, &database_url)?;
        let (old, new) = (key_bytes(old_key), key_bytes(new_key));
        let policy = policy(&options);
        let cancel = self.cancel.clone();
        env.spawn_future(async move {
            let sink = progress_sink(on_progress);
            Ok(rotation_outcome(
                async {
                    // Keys first: a bad key must never cost a connection attempt.
                    let keys = KeyPair::parse(&old, &new, policy)?;
                    drop((old, new));
                    let opts = rotate_options(&options, &cancel)?;
                    let target = ConnectionTarget::parse(&database_url)?;
                    rotation::rotate(Arc::new(keys), &target, &opts, &sink).await
                }
                .await,
            ))
        })
    }

    /// Check that every registry value opens with `key`.
    #[napi(ts_return_type = "Promise<NativeOutcome>")]
    pub fn verify<'env>(
        &self,
        env: &'env Env,
        key: KeyInput,
        database_url: String,
        options: Option<NativeOptions>,
        on_progress: Option<ProgressCallback>,
    ) -> napi::Result<PromiseRaw<'env, Value>> {
        trust_this_nodes_cas(env, &database_url)?;
        let material = key_bytes(key);
        let policy = policy(&options);
        let cancel = self.cancel.clone();
        env.spawn_future(async move {
            let sink = progress_sink(on_progress);
            Ok(outcome(
                async {
                    let (key, warnings) = Key::parse(KeyRole::Verify, &material, policy)?;
                    drop(material);
                    let opts = verify_options(&options, &cancel)?;
                    let target = ConnectionTarget::parse(&database_url)?;
                    rotation::verify(Arc::new(key), warnings, &target, &opts, &sink).await
                }
                .await,
            ))
        })
    }
}

/// The key's non-secret fingerprint (after the same validation as `verify`).
#[napi(ts_return_type = "NativeOutcome")]
pub fn fingerprint(key: KeyInput, allow_whitespace: Option<bool>) -> Value {
    let material = key_bytes(key);
    let policy = KeyPolicy {
        allow_whitespace: allow_whitespace.unwrap_or(false),
    };
    outcome(Key::parse(KeyRole::Verify, &material, policy).map(|(k, _)| k.fingerprint().to_owned()))
}

/// A new random key the backend accepts.
#[napi]
pub fn generate_key() -> String {
    key::generate().to_string()
}

/// Check a key pair without connecting anywhere (the CLI's early refusal).
#[napi(ts_return_type = "NativeOutcome")]
pub fn check_keys(old_key: KeyInput, new_key: KeyInput, allow_whitespace: Option<bool>) -> Value {
    let (old, new) = (key_bytes(old_key), key_bytes(new_key));
    let policy = KeyPolicy {
        allow_whitespace: allow_whitespace.unwrap_or(false),
    };
    outcome(KeyPair::parse(&old, &new, policy).map(|k| {
        json!({
            "oldKeyFingerprint": k.old.fingerprint(),
            "newKeyFingerprint": k.new.fingerprint(),
            "warnings": k.warnings,
        })
    }))
}

/// Parse a connection string without connecting: what a confirmation prompt
/// shows (host, database, schema, notices), never the password.
#[napi(ts_return_type = "NativeOutcome")]
pub fn describe_database(database_url: String) -> Value {
    outcome(ConnectionTarget::parse(&database_url).map(|t| {
        json!({
            "database": t.describe(),
            "target": t.identity(),
            "notices": t.notices(),
        })
    }))
}

/// The locations a run with these options would look at, in the schema
/// `schema` (the connection string's, default `public`): what a
/// confirmation prompt lists.
#[napi(ts_return_type = "NativeOutcome")]
pub fn describe_locations(options: Option<NativeOptions>, schema: Option<String>) -> Value {
    let schema = schema.unwrap_or_else(|| "public".to_owned());
    outcome(
        registry(&options)
            .and_then(|r| r.resolve(&schema))
            .map(|locations| {
                locations
                    .iter()
                    .map(|l| {
                        json!({
                            "schema": l.schema,
                            "table": l.table,
                            "primaryKey": l.primary_key,
                            "column": l.column,
                            "member": l.member,
                            "aad": l.aad.kind(),
                            "where": (!l.filter.is_empty())
                                .then(|| l.filter.iter().cloned().collect::<std::collections::BTreeMap<_, _>>()),
                        })
                    })
                    .collect::<Vec<_>>()
            }),
    )
}
