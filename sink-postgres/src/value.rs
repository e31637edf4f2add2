//! Conversions between local JSON values and typed column values.
//!
//! Writes go through [`Cell`], a typed value checked *before* it is sent (so an error names the
//! record and field), sent in binary as elements of the upsert's array parameters. Columns of
//! types the sink does not encode natively (`numeric`, enums, domains...) are sent as `text` and
//! cast by the server.

use std::borrow::Cow;
use std::error::Error as StdError;

use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde_json::Value;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// How the sink encodes and decodes a column, from its catalog type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Int2,
    Int4,
    Int8,
    Float4,
    Float8,
    Bool,
    Timestamptz,
    Timestamp,
    Date,
    Uuid,
    Jsonb,
    Json,
    TextArray,
    /// Anything else: sent as text, cast by the server.
    Other,
}

impl Kind {
    /// The kind of a column of type `oid`.
    pub(crate) fn from_oid(oid: u32) -> Kind {
        match Type::from_oid(oid) {
            Some(t) => match t {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => Kind::Text,
                Type::INT2 => Kind::Int2,
                Type::INT4 => Kind::Int4,
                Type::INT8 => Kind::Int8,
                Type::FLOAT4 => Kind::Float4,
                Type::FLOAT8 => Kind::Float8,
                Type::BOOL => Kind::Bool,
                Type::TIMESTAMPTZ => Kind::Timestamptz,
                Type::TIMESTAMP => Kind::Timestamp,
                Type::DATE => Kind::Date,
                Type::UUID => Kind::Uuid,
                Type::JSONB => Kind::Jsonb,
                Type::JSON => Kind::Json,
                Type::TEXT_ARRAY | Type::VARCHAR_ARRAY => Kind::TextArray,
                _ => Kind::Other,
            },
            None => Kind::Other,
        }
    }

    /// Whether values of this kind are read back typed rather than through `to_jsonb`:
    /// timestamps, to format them canonically, and text, which the server then sends as it is
    /// and the sink takes as a string without parsing JSON (a lookup of 200 rows of six text
    /// columns costs the server about a fifth less).
    pub(crate) fn read_typed(self) -> bool {
        matches!(self, Kind::Timestamptz | Kind::Timestamp | Kind::Text)
    }

    /// Whether `IS DISTINCT FROM` must compare the text form (types without equality).
    pub(crate) fn compare_as_text(self) -> bool {
        matches!(self, Kind::Json | Kind::Other)
    }
}

/// A typed value ready to be sent. Text and JSON borrow from the record they were read from
/// where they can (a string field is sent as it is, without a copy).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cell<'a> {
    Null,
    Text(Cow<'a, str>),
    Int2(i16),
    Int4(i32),
    Int8(i64),
    Float4(f32),
    Float8(f64),
    Bool(bool),
    Timestamptz(DateTime<Utc>),
    Timestamp(NaiveDateTime),
    Date(NaiveDate),
    Uuid(uuid::Uuid),
    Json(Cow<'a, Value>),
    TextArray(Vec<Option<Cow<'a, str>>>),
}

impl Cell<'_> {
    /// The same cell, owning what it borrowed.
    pub(crate) fn into_owned(self) -> Cell<'static> {
        match self {
            Cell::Null => Cell::Null,
            Cell::Text(v) => Cell::Text(Cow::Owned(v.into_owned())),
            Cell::Int2(v) => Cell::Int2(v),
            Cell::Int4(v) => Cell::Int4(v),
            Cell::Int8(v) => Cell::Int8(v),
            Cell::Float4(v) => Cell::Float4(v),
            Cell::Float8(v) => Cell::Float8(v),
            Cell::Bool(v) => Cell::Bool(v),
            Cell::Timestamptz(v) => Cell::Timestamptz(v),
            Cell::Timestamp(v) => Cell::Timestamp(v),
            Cell::Date(v) => Cell::Date(v),
            Cell::Uuid(v) => Cell::Uuid(v),
            Cell::Json(v) => Cell::Json(Cow::Owned(v.into_owned())),
            Cell::TextArray(v) => Cell::TextArray(
                v.into_iter()
                    .map(|i| i.map(|s| Cow::Owned(s.into_owned())))
                    .collect(),
            ),
        }
    }
}

impl ToSql for Cell<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Text(v) => v.to_sql(ty, out),
            Cell::Int2(v) => v.to_sql(ty, out),
            Cell::Int4(v) => v.to_sql(ty, out),
            Cell::Int8(v) => v.to_sql(ty, out),
            Cell::Float4(v) => v.to_sql(ty, out),
            Cell::Float8(v) => v.to_sql(ty, out),
            Cell::Bool(v) => v.to_sql(ty, out),
            Cell::Timestamptz(v) => v.to_sql(ty, out),
            Cell::Timestamp(v) => v.to_sql(ty, out),
            Cell::Date(v) => v.to_sql(ty, out),
            Cell::Uuid(v) => v.to_sql(ty, out),
            Cell::Json(v) => v.as_ref().to_sql(ty, out),
            Cell::TextArray(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The text form of a JSON value for a text column: strings as they are (borrowed), anything
/// else as JSON.
fn as_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    parse_timestamp(s).map(|d| d.naive_utc()).or_else(|| {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()
    })
}

fn int_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn float_of(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Converts a local value to a cell of `kind`, or says what was expected.
pub(crate) fn to_cell(v: &Value, kind: Kind) -> Result<Cell<'_>, String> {
    if v.is_null() {
        return Ok(Cell::Null);
    }
    let bad = |what: &str| format!("expected {what}, got {}", short(v));
    Ok(match kind {
        Kind::Text | Kind::Other => Cell::Text(as_text(v)),
        Kind::Int2 => Cell::Int2(
            int_of(v)
                .and_then(|i| i16::try_from(i).ok())
                .ok_or_else(|| bad("a smallint"))?,
        ),
        Kind::Int4 => Cell::Int4(
            int_of(v)
                .and_then(|i| i32::try_from(i).ok())
                .ok_or_else(|| bad("an integer"))?,
        ),
        Kind::Int8 => Cell::Int8(int_of(v).ok_or_else(|| bad("a bigint"))?),
        Kind::Float4 => Cell::Float4(float_of(v).ok_or_else(|| bad("a number"))? as f32),
        Kind::Float8 => Cell::Float8(float_of(v).ok_or_else(|| bad("a number"))?),
        Kind::Bool => Cell::Bool(match v {
            Value::Bool(b) => *b,
            Value::String(s) if s == "true" => true,
            Value::String(s) if s == "false" => false,
            _ => return Err(bad("a boolean")),
        }),
        Kind::Timestamptz => Cell::Timestamptz(
            v.as_str()
                .and_then(parse_timestamp)
                .ok_or_else(|| bad("an RFC 3339 timestamp"))?,
        ),
        Kind::Timestamp => Cell::Timestamp(
            v.as_str()
                .and_then(parse_naive)
                .ok_or_else(|| bad("a timestamp"))?,
        ),
        Kind::Date => Cell::Date(
            v.as_str()
                .and_then(|s| {
                    NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .or_else(|| parse_timestamp(s).map(|d| d.date_naive()))
                })
                .ok_or_else(|| bad("a date (YYYY-MM-DD)"))?,
        ),
        Kind::Uuid => Cell::Uuid(
            v.as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .ok_or_else(|| bad("a UUID"))?,
        ),
        Kind::Jsonb | Kind::Json => Cell::Json(Cow::Borrowed(v)),
        Kind::TextArray => match v {
            Value::Array(items) => Cell::TextArray(
                items
                    .iter()
                    .map(|i| if i.is_null() { None } else { Some(as_text(i)) })
                    .collect(),
            ),
            _ => return Err(bad("an array")),
        },
    })
}

/// A value as it is shown in an error: its JSON type, never its content (it may be personal
/// data).
fn short(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A timestamp in the canonical local form: RFC 3339, UTC, `Z`, only the fraction digits needed.
pub(crate) fn format_timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The value at dotted `path` in `data` (`Null` when absent).
pub(crate) fn get_path<'a>(data: &'a Value, path: &str) -> &'a Value {
    const NULL: &Value = &Value::Null;
    let mut cur = data;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return NULL,
        }
    }
    cur
}

/// Sets the value at dotted `path` in the object `data`, creating objects on the way.
pub(crate) fn set_path(data: &mut serde_json::Map<String, Value>, path: &str, value: Value) {
    match path.split_once('.') {
        None => {
            data.insert(path.to_owned(), value);
        }
        Some((head, rest)) => {
            let entry = data
                .entry(head.to_owned())
                .or_insert_with(|| Value::Object(Default::default()));
            if !entry.is_object() {
                *entry = Value::Object(Default::default());
            }
            if let Value::Object(map) = entry {
                set_path(map, rest, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_convert_to_integer_columns_only_when_whole() {
        assert_eq!(to_cell(&json!(42), Kind::Int8), Ok(Cell::Int8(42)));
        assert_eq!(to_cell(&json!(42.0), Kind::Int4), Ok(Cell::Int4(42)));
        assert!(to_cell(&json!(4.5), Kind::Int8).is_err());
        assert!(to_cell(&json!(70000), Kind::Int2).is_err());
    }

    #[test]
    fn conversion_errors_name_the_type_but_not_the_value() {
        let err = to_cell(&json!("secret-personal-value"), Kind::Uuid).unwrap_err();
        assert!(err.contains("UUID"));
        assert!(!err.contains("secret-personal-value"));
    }

    #[test]
    fn text_columns_store_non_strings_as_json_text() {
        assert_eq!(
            to_cell(&json!(1.5), Kind::Text),
            Ok(Cell::Text("1.5".into()))
        );
        assert_eq!(to_cell(&json!(null), Kind::Text), Ok(Cell::Null));
    }

    #[test]
    fn dotted_paths_read_and_write_nested_objects() {
        let data = json!({"a": {"b": 1}});
        assert_eq!(get_path(&data, "a.b"), &json!(1));
        assert_eq!(get_path(&data, "a.c"), &Value::Null);
        let mut map = serde_json::Map::new();
        set_path(&mut map, "a.b", json!(1));
        set_path(&mut map, "a.c", json!(2));
        assert_eq!(Value::Object(map), json!({"a": {"b": 1, "c": 2}}));
    }

    #[test]
    fn timestamps_format_canonically_in_utc() {
        let t = parse_timestamp("2024-05-01T12:00:00.250+02:00").unwrap();
        assert_eq!(format_timestamp(t), "2024-05-01T10:00:00.250Z");
    }
}
