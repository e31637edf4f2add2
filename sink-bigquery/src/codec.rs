//! Conversions between local record values (JSON) and BigQuery cells, and the feed checkpoint.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde_json::{Map, Value};
use twenty_sync_core::{Checkpoint, StoreError, StoreErrorKind, StoreResult};

use crate::config::BqType;

/// The value at a dotted `path` of `data` (`None` when absent).
pub(crate) fn get_path<'a>(data: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(data, |v, seg| v.get(seg))
}

/// Sets the value at a dotted `path`, creating intermediate objects.
pub(crate) fn set_path(data: &mut Map<String, Value>, path: &str, value: Value) {
    let mut segments = path.split('.').peekable();
    let mut current = data;
    while let Some(seg) = segments.next() {
        if segments.peek().is_none() {
            current.insert(seg.to_owned(), value);
            return;
        }
        let entry = current
            .entry(seg.to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if !entry.is_object() {
            *entry = Value::Object(Map::new());
        }
        current = match entry {
            Value::Object(map) => map,
            _ => unreachable!("entry was just made an object"),
        };
    }
}

/// Formats a timestamp the way the sink writes it (RFC 3339, microseconds, `Z`).
pub(crate) fn format_ts(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Encodes a local value for a `tabledata.insertAll` row of a column of type `ty`.
///
/// `Err` carries a reason (no value: values may be personal data) for the caller to put in context.
pub(crate) fn encode_cell(ty: BqType, value: &Value) -> Result<Value, String> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let mismatch = || {
        format!(
            "a JSON {} cannot be stored in a {} column (map nested values to a JSON column)",
            json_kind(value),
            ty.as_str()
        )
    };
    match ty {
        BqType::Json => serde_json::to_string(value)
            .map(Value::String)
            .map_err(|e| format!("could not serialise the value as JSON: {e}")),
        BqType::String
        | BqType::Numeric
        | BqType::Bignumeric
        | BqType::Date
        | BqType::Datetime
        | BqType::Time
        | BqType::Bytes => match value {
            Value::String(_) => Ok(value.clone()),
            Value::Number(n) => Ok(Value::String(n.to_string())),
            Value::Bool(b) if ty == BqType::String => Ok(Value::String(b.to_string())),
            _ => Err(mismatch()),
        },
        BqType::Int64 => match value {
            Value::Number(n) if n.is_i64() || n.is_u64() => Ok(Value::String(n.to_string())),
            Value::String(s) if s.trim().parse::<i64>().is_ok() => {
                Ok(Value::String(s.trim().to_owned()))
            }
            _ => Err(format!("{} (expected an integer)", mismatch())),
        },
        BqType::Float64 => match value {
            Value::Number(_) => Ok(value.clone()),
            Value::String(s) if s.trim().parse::<f64>().is_ok() => {
                Ok(Value::String(s.trim().to_owned()))
            }
            _ => Err(format!("{} (expected a number)", mismatch())),
        },
        BqType::Bool => match value {
            Value::Bool(_) => Ok(value.clone()),
            Value::String(s) if s == "true" || s == "false" => Ok(Value::Bool(s == "true")),
            _ => Err(format!("{} (expected true or false)", mismatch())),
        },
        BqType::Timestamp => match value {
            Value::String(s) => DateTime::parse_from_rfc3339(s)
                .map(|t| Value::String(format_ts(&t.with_timezone(&Utc))))
                .map_err(|_| "the value is not an RFC 3339 timestamp".to_owned()),
            Value::Number(n) => n.as_f64().map(Value::from).ok_or_else(mismatch),
            _ => Err(mismatch()),
        },
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Decodes a query-result cell of a column of type `ty` into the local value.
pub(crate) fn decode_cell(ty: BqType, cell: Option<&Value>) -> Result<Value, String> {
    let Some(cell) = cell.filter(|c| !c.is_null()) else {
        return Ok(Value::Null);
    };
    let text = match cell {
        Value::String(s) => s.as_str(),
        // Some servers answer with typed JSON already; take it as it is.
        other if ty != BqType::Timestamp => return Ok(other.clone()),
        other => return decode_ts(other).map(|t| Value::String(format_ts(&t))),
    };
    match ty {
        BqType::Json => serde_json::from_str(text)
            .map_err(|e| format!("the JSON column holds invalid JSON: {e}")),
        BqType::Int64 => text
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| "the INT64 cell is not an integer".to_owned()),
        BqType::Float64 => match text.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::from(f)),
            Ok(_) => Ok(Value::String(text.to_owned())),
            Err(_) => Err("the FLOAT64 cell is not a number".to_owned()),
        },
        BqType::Bool => match text.to_ascii_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err("the BOOL cell is neither true nor false".to_owned()),
        },
        BqType::Timestamp => decode_ts(cell).map(|t| Value::String(format_ts(&t))),
        _ => Ok(Value::String(text.to_owned())),
    }
}

/// Decodes a TIMESTAMP cell: int64 microseconds (`formatOptions.useInt64Timestamp`), float
/// seconds (the REST default) or an RFC 3339 / `YYYY-MM-DD HH:MM:SS[.f][+zz]` string.
pub(crate) fn decode_ts(cell: &Value) -> Result<DateTime<Utc>, String> {
    let bad = || "the TIMESTAMP cell is not a timestamp".to_owned();
    let text = match cell {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(bad()),
    };
    if let Ok(micros) = text.parse::<i64>() {
        return Utc.timestamp_micros(micros).single().ok_or_else(bad);
    }
    if let Some(micros) = decimal_seconds_to_micros(&text) {
        return Utc.timestamp_micros(micros).single().ok_or_else(bad);
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(&text) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f UTC"] {
        if let Ok(t) = DateTime::parse_from_str(&text, fmt) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f") {
        return Ok(t.and_utc());
    }
    Err(bad())
}

/// Exactly converts decimal seconds (`"1767225600.5"`, `"1.7672256005E9"`) to microseconds,
/// without going through a float (which would lose the last microsecond digits).
fn decimal_seconds_to_micros(text: &str) -> Option<i64> {
    let (mantissa, exp) = match text.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let digits: String = format!("{int}{frac}");
    // value = digits * 10^(exp - frac.len()); micros = value * 10^6.
    let shift = exp + 6 - i32::try_from(frac.len()).ok()?;
    let mut value: i128 = digits.parse().ok()?;
    if shift >= 0 {
        value = value.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?;
    } else {
        let div = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        // Round half away from zero.
        value = (value + div / 2) / div;
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).ok()
}

/// A position in an entity's change feed: rows are ordered by `(updated_at, key, deleted)`.
///
/// Encoded as `v1:<updated_at micros>:<0|1>:<key>` (the key last, so it may contain `:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeedPosition {
    pub updated_at: DateTime<Utc>,
    pub key: String,
    pub deleted: bool,
}

impl FeedPosition {
    pub(crate) fn encode(&self) -> Checkpoint {
        Checkpoint::new(format!(
            "v1:{}:{}:{}",
            self.updated_at.timestamp_micros(),
            u8::from(self.deleted),
            self.key
        ))
    }

    pub(crate) fn decode(cp: &Checkpoint, entity: &str) -> StoreResult<Self> {
        let bad = || {
            StoreError::new(
                StoreErrorKind::Invalid,
                format!(
                    "checkpoint {:?} was not made by the BigQuery sink (expected \
                     v1:<micros>:<0|1>:<key>); reset the push cursor of this entity",
                    cp.as_str()
                ),
            )
            .with_context("entity", entity.to_owned())
        };
        let rest = cp.as_str().strip_prefix("v1:").ok_or_else(bad)?;
        let mut parts = rest.splitn(3, ':');
        let micros = parts
            .next()
            .and_then(|m| m.parse::<i64>().ok())
            .ok_or_else(bad)?;
        let deleted = match parts.next() {
            Some("0") => false,
            Some("1") => true,
            _ => return Err(bad()),
        };
        let key = parts.next().ok_or_else(bad)?.to_owned();
        let updated_at = Utc.timestamp_micros(micros).single().ok_or_else(bad)?;
        Ok(FeedPosition {
            updated_at,
            key,
            deleted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_paths_round_trip() {
        let mut map = Map::new();
        set_path(&mut map, "context.notes", json!("hi"));
        set_path(&mut map, "name", json!("Ann"));
        let v = Value::Object(map);
        assert_eq!(get_path(&v, "context.notes"), Some(&json!("hi")));
        assert_eq!(get_path(&v, "context.missing"), None);
    }

    #[test]
    fn json_columns_are_written_as_json_text_and_read_back_as_values() {
        let v = json!({"a": [1, 2], "b": null});
        let cell = encode_cell(BqType::Json, &v).unwrap();
        assert_eq!(cell, json!("{\"a\":[1,2],\"b\":null}"));
        assert_eq!(decode_cell(BqType::Json, Some(&cell)).unwrap(), v);
    }

    #[test]
    fn objects_in_scalar_columns_are_refused_without_echoing_the_value() {
        let err = encode_cell(BqType::String, &json!({"secret": "s3cr3t"})).unwrap_err();
        assert!(err.contains("object"), "{err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }

    #[test]
    fn int64_cells_decode_to_numbers_and_encode_from_strings() {
        assert_eq!(
            decode_cell(BqType::Int64, Some(&json!("42"))).unwrap(),
            json!(42)
        );
        assert_eq!(
            encode_cell(BqType::Int64, &json!(" 7 ")).unwrap(),
            json!("7")
        );
        assert!(encode_cell(BqType::Int64, &json!("x")).is_err());
    }

    #[test]
    fn timestamps_decode_from_micros_seconds_and_text() {
        let expect = "2026-01-01T00:00:00.500000Z";
        for cell in [
            json!("1767225600500000"),
            json!("1.7672256005E9"),
            json!("1767225600.5"),
            json!("2026-01-01T00:00:00.5Z"),
            json!("2026-01-01 00:00:00.5+00:00"),
        ] {
            let t = decode_ts(&cell).unwrap();
            assert_eq!(format_ts(&t), expect, "{cell}");
        }
    }

    #[test]
    fn float_second_timestamps_keep_every_microsecond() {
        let t = decode_ts(&json!("1.767225600123457E9")).unwrap();
        assert_eq!(t.timestamp_micros(), 1_767_225_600_123_457);
    }

    #[test]
    fn checkpoint_round_trips_keys_with_colons() {
        let p = FeedPosition {
            updated_at: Utc.timestamp_micros(1_767_225_600_123_456).unwrap(),
            key: "a:b:c".into(),
            deleted: true,
        };
        let cp = p.encode();
        assert_eq!(cp.as_str(), "v1:1767225600123456:1:a:b:c");
        assert_eq!(FeedPosition::decode(&cp, "contacts").unwrap(), p);
    }

    #[test]
    fn foreign_checkpoints_are_rejected_with_advice() {
        let err = FeedPosition::decode(&Checkpoint::new("42"), "contacts").unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Invalid);
        assert!(err.to_string().contains("reset the push cursor"), "{err}");
    }
}
