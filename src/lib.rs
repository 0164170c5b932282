//! The N-API binding: converts JS arguments, calls the core, and hands back a
//! plain outcome object. `index.js` turns failed outcomes into `Error`s with a
//! stable `code`, because napi-rs promises can only reject with its own
//! status codes.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use keyrotate_core::cancel::Cancel;
use keyrotate_core::connection::{self as connection, ConnectionTarget};
use keyrotate_core::key::{self, Key, KeyPair, KeyPolicy};
use keyrotate_core::outcome::{DatabaseDescribed, KeysChecked, Outcome};
use keyrotate_core::report::LocationDescription;
use keyrotate_core::rotation::{self, Actor, ColumnArg, Progress, Requested};
use keyrotate_core::KeyRole;
use napi::bindgen_prelude::{Buffer, Either, Function, JsObjectValue, Object, PromiseRaw};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status};
use napi_derive::napi;
use serde_json::Value;
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

/// JS's options as the core's request; defaults are the core's to fill.
fn requested(options: Option<NativeOptions>) -> Requested {
    let Some(o) = options else {
        return Requested::default();
    };
    Requested {
        dry_run: o.dry_run,
        columns: o
            .columns
            .into_iter()
            .flatten()
            .map(|c| match c {
                Either::A(spec) => ColumnArg::Spec(spec),
                Either::B(c) => ColumnArg::Parts {
                    schema: c.schema,
                    table: c.table,
                    primary_key: c.primary_key,
                    column: c.column,
                },
            })
            .collect(),
        columns_file: o.columns_file.map(PathBuf::from),
        lock_timeout: o.lock_timeout_ms.map(|ms| Duration::from_millis(ms.into())),
        discover: o.discover,
        allow_unregistered: o.allow_unregistered,
        allow_whitespace: o.allow_whitespace,
        batch_size: o.batch_size.map(|b| b as usize),
        kg_pinned_to_old_key: o.kg_pinned_to_old_key,
        kg_relink: o.kg_relink,
        actor: Actor {
            os_user: o.audit_user,
            host: o.audit_host,
        },
        schema: o.schema,
    }
}

/// The key rules for a call that takes only `allowWhitespace`.
fn key_policy(allow_whitespace: Option<bool>) -> KeyPolicy {
    Requested {
        allow_whitespace,
        ..Requested::default()
    }
    .key_policy()
}

/// An outcome as the plain object JS receives. Serializing cannot fail:
/// every outcome is structs, strings, numbers and string-keyed maps.
fn js<T: serde::Serialize>(outcome: Outcome<T>) -> Value {
    serde_json::to_value(outcome).unwrap_or(Value::Null)
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
        let requested = requested(options);
        let cancel = self.cancel.clone();
        env.spawn_future(async move {
            let sink = progress_sink(on_progress);
            Ok(js(Outcome::of_rotation(
                async {
                    // Keys first: a bad key must never cost a connection attempt.
                    let keys = KeyPair::parse(&old, &new, requested.key_policy())?;
                    drop((old, new));
                    let opts = requested.rotate(&cancel)?;
                    let target = ConnectionTarget::parse(&database_url)?;
                    rotation::rotate(Arc::new(keys), &target, &opts, &sink).await
                }
                .await,
            )))
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
        let requested = requested(options);
        let cancel = self.cancel.clone();
        env.spawn_future(async move {
            let sink = progress_sink(on_progress);
            Ok(js(Outcome::of(
                async {
                    let (key, warnings) =
                        Key::parse(KeyRole::Verify, &material, requested.key_policy())?;
                    drop(material);
                    let opts = requested.verify(&cancel)?;
                    let target = ConnectionTarget::parse(&database_url)?;
                    rotation::verify(Arc::new(key), warnings, &target, &opts, &sink).await
                }
                .await,
            )))
        })
    }
}

/// The key's non-secret fingerprint (after the same validation as `verify`).
#[napi(ts_return_type = "NativeOutcome")]
pub fn fingerprint(key: KeyInput, allow_whitespace: Option<bool>) -> Value {
    let material = key_bytes(key);
    let policy = key_policy(allow_whitespace);
    js(Outcome::of(
        Key::parse(KeyRole::Verify, &material, policy).map(|(k, _)| k.fingerprint().to_owned()),
    ))
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
    let policy = key_policy(allow_whitespace);
    js(Outcome::of(
        KeyPair::parse(&old, &new, policy).map(|k| KeysChecked::from(&k)),
    ))
}

/// Parse a connection string without connecting: what a confirmation prompt
/// shows (host, database, schema, notices), never the password.
#[napi(ts_return_type = "NativeOutcome")]
pub fn describe_database(database_url: String) -> Value {
    js(Outcome::of(
        ConnectionTarget::parse(&database_url).map(|t| DatabaseDescribed::from(&t)),
    ))
}

/// The locations a run with these options would look at, in the schema
/// `schema` (the connection string's, default `public`): what a
/// confirmation prompt lists.
#[napi(ts_return_type = "NativeOutcome")]
pub fn describe_locations(options: Option<NativeOptions>, schema: Option<String>) -> Value {
    js(Outcome::of(
        requested(options)
            .locations(schema.as_deref())
            .map(|locations| {
                locations
                    .iter()
                    .map(LocationDescription::from)
                    .collect::<Vec<_>>()
            }),
    ))
}
