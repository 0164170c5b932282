//! Why an argument is refused: which option, name or file, and what about
//! it is wrong, by kind and size. Like the rest of the error, never a value:
//! a key pasted into the wrong option must not end up on the screen.

use std::fmt;
use std::io::ErrorKind;

use crate::ident::quote_ident;

/// What is wrong with an argument: the reason of
/// [`Error::InvalidArgument`](super::Error::InvalidArgument)
/// (`ERR_INVALID_ARG`). `Display` writes the reason that follows
/// "invalid argument: ". New reasons may be added (`non_exhaustive`).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Invalid {
    /// A name in a location (a `--column` spec or a locations file entry)
    /// that PostgreSQL would refuse or silently change.
    Name { of: NameOf, fault: NameFault },
    /// A location's JSON member is empty or holds a control character.
    MemberName,
    /// A `--column` spec that is not `[schema.]table.primaryKey.column`,
    /// described by its length and its number of dot-separated parts.
    ColumnSpec { chars: usize, parts: usize },
    /// The locations file (`--columns-file`, `columnsFile`) cannot be read,
    /// for this reason; never its path.
    LocationsFile(ErrorKind),
    /// The locations file is not JSON, or an entry does not match the
    /// format: where, and for a misnamed or missing field, its name.
    LocationsJson {
        fault: JsonFault,
        field: Option<String>,
        line: usize,
        column: usize,
    },
    /// The locations file is JSON, but neither a registry document nor an
    /// array of locations.
    LocationsDocument,
    /// Two locations (`table.column` or `table.column.member`) could claim
    /// the same sealed string.
    Overlap { first: String, second: String },
    /// A location's AAD template cannot be parsed.
    AadTemplate(TemplateFault),
    /// The batch size is not between 1 and 100000.
    BatchSize,
    /// The lock timeout is 0 (which PostgreSQL reads as "wait forever") or
    /// longer than PostgreSQL accepts.
    LockTimeout,
    /// A location names its rows by a column that neither is the table's
    /// primary key nor has a unique index of its own.
    RowName {
        schema: String,
        table: String,
        column: String,
    },
    /// The schema the caller chose holds none of AnythingMCP's tables.
    SchemaWithoutTables { schema: String },
    /// The one catch-all: a reason already worded as text. `connection`
    /// types its refusals of a connection string in its own `UrlError`
    /// (which never repeats a password) and hands them over worded, through
    /// [`Error::invalid_argument`](super::Error::invalid_argument). Names
    /// and kinds only, like every other reason; a new refusal elsewhere
    /// gets a variant of its own instead.
    Other(String),
}

/// Which name of a location is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameOf {
    Schema,
    Table,
    PrimaryKey,
    Column,
    /// A column a row filter (`where`) compares.
    FilterColumn,
    /// A column an AAD template is built from.
    AadColumn,
}

/// What is wrong with a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameFault {
    Empty,
    /// Longer than PostgreSQL's identifiers (`limit` bytes): PostgreSQL
    /// would truncate it and name something else.
    TooLong {
        bytes: usize,
        limit: usize,
    },
    ControlCharacter,
}

/// How a locations file fails to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonFault {
    /// It is not JSON at all (or ends early).
    Syntax,
    /// It is JSON, but an entry does not match docs/locations.md.
    Format,
}

/// What is wrong with an AAD template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateFault {
    /// A `}` that closes nothing and is not doubled.
    LoneClose,
    /// A `{` that does not enclose a column name.
    NoColumnName,
    /// A `{` with no `}` after it.
    Unclosed,
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Invalid::Name { of, fault } => name(f, *of, *fault),
            Invalid::MemberName => {
                f.write_str("a member name must be non-empty and free of control characters")
            }
            Invalid::ColumnSpec { chars, parts } => write!(
                f,
                "a column spec ({chars} characters, {parts} dot-separated parts) must be [schema.]table.primaryKey.column"
            ),
            Invalid::LocationsFile(kind) => write!(
                f,
                "the locations file (--columns-file, columnsFile): {}",
                unreadable(*kind)
            ),
            Invalid::LocationsJson {
                fault,
                field,
                line,
                column,
            } => locations_json(f, *fault, field.as_deref(), (*line, *column)),
            Invalid::LocationsDocument => f.write_str(
                "locations file: expected a registry document ({\"locations\": [...]}) or an array of locations",
            ),
            Invalid::Overlap { first, second } => write!(
                f,
                "locations {first} and {second} overlap: give them filters that tell their rows apart"
            ),
            Invalid::AadTemplate(fault) => write!(f, "AAD template: {fault}"),
            Invalid::BatchSize => f.write_str("batch size must be between 1 and 100000"),
            Invalid::LockTimeout => {
                f.write_str("lock timeout must be between 1 ms and about 24 days")
            }
            Invalid::RowName {
                schema,
                table,
                column,
            } => write!(
                f,
                "the location on {schema}.{table} names its rows by {column}, which is neither the table's primary key nor a NOT NULL column with a unique index of its own; reports name every failing row by it, so it must identify rows and be no secret"
            ),
            Invalid::SchemaWithoutTables { schema } => write!(
                f,
                "the schema chosen, {}, holds no AnythingMCP tables",
                quote_ident(schema)
            ),
            Invalid::Other(reason) => f.write_str(reason),
        }
    }
}

fn name(f: &mut fmt::Formatter<'_>, of: NameOf, fault: NameFault) -> fmt::Result {
    match fault {
        NameFault::Empty => write!(f, "{of} name is empty"),
        NameFault::TooLong { bytes, limit } => write!(
            f,
            "a {of} name is {bytes} bytes, longer than PostgreSQL's {limit}-byte identifier limit"
        ),
        NameFault::ControlCharacter => write!(f, "a {of} name contains a control character"),
    }
}

fn unreadable(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::NotFound => "no such file",
        ErrorKind::PermissionDenied => "permission denied",
        ErrorKind::IsADirectory => "it is a directory",
        ErrorKind::InvalidData => "it is not UTF-8 text",
        _ => "it cannot be read",
    }
}

fn locations_json(
    f: &mut fmt::Formatter<'_>,
    fault: JsonFault,
    field: Option<&str>,
    (line, column): (usize, usize),
) -> fmt::Result {
    f.write_str(match fault {
        JsonFault::Syntax => "locations file: not valid JSON",
        JsonFault::Format => {
            "locations file: an entry does not match the format of docs/locations.md"
        }
    })?;
    if let Some(field) = field {
        write!(f, " (field `{field}`)")?;
    }
    write!(f, " at line {line}, column {column}")
}

impl fmt::Display for NameOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameOf::Schema => "schema",
            NameOf::Table => "table",
            NameOf::PrimaryKey => "primary key",
            NameOf::Column => "column",
            NameOf::FilterColumn => "filter column",
            NameOf::AadColumn => "AAD column",
        })
    }
}

impl fmt::Display for TemplateFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TemplateFault::LoneClose => "a lone '}' (write '}}' for a literal brace)",
            TemplateFault::NoColumnName => "'{' must enclose a column name and be closed by '}'",
            TemplateFault::Unclosed => "a '{' is never closed",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::Error;
    use super::*;

    /// The words of every reason, as the API and the CLI have always shown them.
    #[test]
    fn every_reason_keeps_its_words() {
        let name = |of, fault| Invalid::Name { of, fault };
        let long = NameFault::TooLong {
            bytes: 64,
            limit: 63,
        };
        let cases = [
            (name(NameOf::PrimaryKey, NameFault::Empty), "primary key name is empty"),
            (name(NameOf::Table, long), "a table name is 64 bytes, longer than PostgreSQL's 63-byte identifier limit"),
            (name(NameOf::AadColumn, NameFault::ControlCharacter), "a AAD column name contains a control character"),
            (Invalid::MemberName, "a member name must be non-empty and free of control characters"),
            (Invalid::ColumnSpec { chars: 13, parts: 2 }, "a column spec (13 characters, 2 dot-separated parts) must be [schema.]table.primaryKey.column"),
            (Invalid::LocationsFile(ErrorKind::NotFound), "the locations file (--columns-file, columnsFile): no such file"),
            (Invalid::LocationsFile(ErrorKind::Other), "the locations file (--columns-file, columnsFile): it cannot be read"),
            (Invalid::LocationsJson { fault: JsonFault::Syntax, field: None, line: 1, column: 2 }, "locations file: not valid JSON at line 1, column 2"),
            (Invalid::LocationsJson { fault: JsonFault::Format, field: Some("sql".into()), line: 1, column: 50 }, "locations file: an entry does not match the format of docs/locations.md (field `sql`) at line 1, column 50"),
            (Invalid::LocationsDocument, "locations file: expected a registry document ({\"locations\": [...]}) or an array of locations"),
            (Invalid::Overlap { first: "t.c.m".into(), second: "t.c".into() }, "locations t.c.m and t.c overlap: give them filters that tell their rows apart"),
            (Invalid::AadTemplate(TemplateFault::LoneClose), "AAD template: a lone '}' (write '}}' for a literal brace)"),
            (Invalid::AadTemplate(TemplateFault::NoColumnName), "AAD template: '{' must enclose a column name and be closed by '}'"),
            (Invalid::AadTemplate(TemplateFault::Unclosed), "AAD template: a '{' is never closed"),
            (Invalid::BatchSize, "batch size must be between 1 and 100000"),
            (Invalid::LockTimeout, "lock timeout must be between 1 ms and about 24 days"),
            (Invalid::RowName { schema: "public".into(), table: "t".into(), column: "secret".into() }, "the location on public.t names its rows by secret, which is neither the table's primary key nor a NOT NULL column with a unique index of its own; reports name every failing row by it, so it must identify rows and be no secret"),
            (Invalid::SchemaWithoutTables { schema: "te\"nant".into() }, "the schema chosen, \"te\"\"nant\", holds no AnythingMCP tables"),
            (Invalid::Other("the database URL is empty".into()), "the database URL is empty"),
        ];
        for (reason, words) in cases {
            let error = Error::from(reason);
            assert_eq!(error.code(), "ERR_INVALID_ARG");
            assert_eq!(error.to_string(), format!("invalid argument: {words}"));
        }
        assert!(matches!(
            Error::invalid_argument("free text"),
            Error::InvalidArgument { reason: Invalid::Other(text) } if text == "free text"
        ));
    }
}
