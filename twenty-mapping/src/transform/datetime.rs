//! `datetime`: dates and times in explicit input formats and a time zone → RFC 3339 UTC
//! (or `YYYY-MM-DD` with `date_only`).
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! let args = json!({"formats": ["%d/%m/%Y %H:%M"], "timezone": "Europe/Paris"});
//! assert_eq!(apply_builtin("datetime", &args, json!("13/01/2025 10:30")).unwrap(),
//!            json!("2025-01-13T09:30:00Z"));
//! assert_eq!(apply_builtin("datetime", &json!({}), json!("2025-01-13T10:30:00+02:00")).unwrap(),
//!            json!("2025-01-13T08:30:00Z"));
//! assert_eq!(apply_builtin("datetime", &json!({"epoch": "seconds"}), json!(0)).unwrap(),
//!            json!("1970-01-01T00:00:00Z"));
//! assert_eq!(apply_builtin("datetime", &json!({"formats": ["%Y%m%d"], "date_only": true}), json!("20250113")).unwrap(),
//!            json!("2025-01-13"));
//! ```

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::{
    DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeZone, Utc,
};
use chrono_tz::Tz;
use serde_json::Value;

use super::{Inverse, TransformArgs, TransformRegistry, TransformStep, builtin, json_type_name};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(
        r,
        "datetime",
        &["formats", "timezone", "date_only", "epoch"],
        build,
    );
}

#[derive(Clone, Copy)]
enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

#[derive(Clone, Copy, PartialEq)]
enum Epoch {
    None,
    Seconds,
    Millis,
}

#[derive(Clone)]
struct Format {
    text: String,
    items: Vec<Item<'static>>,
}

#[derive(Clone)]
struct DateTimeStep {
    formats: Vec<Format>,
    zone: Zone,
    date_only: bool,
    epoch: Epoch,
}

fn parse_zone(text: &str) -> Result<Zone, String> {
    if text.eq_ignore_ascii_case("utc") || text == "Z" {
        return Ok(Zone::Fixed(
            FixedOffset::east_opt(0).expect("zero offset is valid"),
        ));
    }
    if let Ok(tz) = text.parse::<Tz>() {
        return Ok(Zone::Named(tz));
    }
    let bytes = text.as_bytes();
    if bytes.len() == 6 && (bytes[0] == b'+' || bytes[0] == b'-') && bytes[3] == b':' {
        let h: i32 = text[1..3]
            .parse()
            .map_err(|_| format!("bad offset {text:?}"))?;
        let m: i32 = text[4..6]
            .parse()
            .map_err(|_| format!("bad offset {text:?}"))?;
        let secs = (h * 3600 + m * 60) * if bytes[0] == b'-' { -1 } else { 1 };
        return FixedOffset::east_opt(secs)
            .map(Zone::Fixed)
            .ok_or_else(|| format!("offset {text:?} is out of range"));
    }
    Err(format!(
        "`timezone` {text:?} is neither an IANA zone (\"Europe/Paris\"), \"UTC\" nor an offset (\"+02:00\")"
    ))
}

fn build(args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
    let mut formats = Vec::new();
    for text in args.str_list("formats")?.unwrap_or_default() {
        let items: Vec<Item<'static>> = StrftimeItems::new(&text)
            .parse_to_owned()
            .map_err(|_| format!("invalid date format {text:?} (see chrono strftime syntax)"))?;
        formats.push(Format { text, items });
    }
    let zone = parse_zone(args.str("timezone")?.unwrap_or("UTC"))?;
    let epoch = match args.str("epoch")? {
        None => Epoch::None,
        Some("seconds") => Epoch::Seconds,
        Some("millis") => Epoch::Millis,
        Some(other) => {
            return Err(format!(
                "`epoch` must be \"seconds\" or \"millis\", got {other:?}"
            ));
        }
    };
    Ok(Box::new(DateTimeStep {
        formats,
        zone,
        date_only: args.bool_or("date_only", false)?,
        epoch,
    }))
}

impl DateTimeStep {
    fn localise(&self, naive: NaiveDateTime) -> Result<DateTime<Utc>, TransformError> {
        let local = match self.zone {
            Zone::Named(tz) => tz
                .from_local_datetime(&naive)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
            Zone::Fixed(off) => off
                .from_local_datetime(&naive)
                .earliest()
                .map(|d| d.with_timezone(&Utc)),
        };
        local.ok_or_else(|| {
            TransformError::new("local time does not exist in the time zone (DST gap)")
        })
    }

    fn parse_text(&self, s: &str) -> Result<DateTime<Utc>, TransformError> {
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Ok(dt.with_timezone(&Utc));
        }
        for f in &self.formats {
            let mut parsed = Parsed::new();
            if chrono::format::parse(&mut parsed, s, f.items.iter()).is_err() {
                continue;
            }
            if let Ok(dt) = parsed.to_datetime() {
                return Ok(dt.with_timezone(&Utc));
            }
            if let Ok(naive) = parsed.to_naive_datetime_with_offset(0) {
                return self.localise(naive);
            }
            if let Ok(date) = parsed.to_naive_date() {
                return self.localise(date.and_time(NaiveTime::MIN));
            }
        }
        if self.formats.is_empty() {
            if let Ok(date) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
                return self.localise(date.and_time(NaiveTime::MIN));
            }
        }
        let expected: Vec<&str> = self.formats.iter().map(|f| f.text.as_str()).collect();
        Err(TransformError::new(format!(
            "date/time does not match RFC 3339{}{}",
            if expected.is_empty() { "" } else { " or " },
            expected.join(", ")
        )))
    }

    fn render(&self, dt: DateTime<Utc>) -> String {
        if self.date_only {
            match self.zone {
                Zone::Named(tz) => dt.with_timezone(&tz).format("%Y-%m-%d").to_string(),
                Zone::Fixed(off) => dt.with_timezone(&off).format("%Y-%m-%d").to_string(),
            }
        } else {
            dt.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        }
    }
}

impl TransformStep for DateTimeStep {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let dt = match (&input, self.epoch) {
            (Value::String(s), _) => self.parse_text(s.trim())?,
            (Value::Number(n), Epoch::Seconds | Epoch::Millis) => {
                let v = n
                    .as_i64()
                    .ok_or_else(|| TransformError::new("epoch timestamp must be an integer"))?;
                let dt = if self.epoch == Epoch::Seconds {
                    DateTime::from_timestamp(v, 0)
                } else {
                    DateTime::from_timestamp_millis(v)
                };
                dt.ok_or_else(|| TransformError::new("epoch timestamp is out of range"))?
            }
            (other, _) => {
                return Err(TransformError::new(format!(
                    "datetime expects text{}, got {}",
                    if self.epoch == Epoch::None {
                        ""
                    } else {
                        " or a number"
                    },
                    json_type_name(other)
                )));
            }
        };
        Ok(Value::String(self.render(dt)))
    }
    fn inverse(&self) -> Inverse {
        match self.formats.first() {
            None => Inverse::Identity,
            Some(_) => Inverse::Step(Box::new(FormatDateTime(self.clone()))),
        }
    }
}

/// RFC 3339 → the first input format in the configured zone (the inverse of `datetime`).
struct FormatDateTime(DateTimeStep);

impl TransformStep for FormatDateTime {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let s = input.as_str().ok_or_else(|| {
            TransformError::new(format!(
                "expected a date/time, got {}",
                json_type_name(&input)
            ))
        })?;
        let dt = match DateTime::parse_from_rfc3339(s) {
            Ok(dt) => dt.with_timezone(&Utc),
            Err(_) => NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| TransformError::new("Twenty date/time is not RFC 3339"))
                .and_then(|d| self.0.localise(d.and_time(NaiveTime::MIN)))?,
        };
        let f = &self.0.formats[0];
        let text = match self.0.zone {
            Zone::Named(tz) => dt
                .with_timezone(&tz)
                .format_with_items(f.items.iter())
                .to_string(),
            Zone::Fixed(off) => dt
                .with_timezone(&off)
                .format_with_items(f.items.iter())
                .to_string(),
        };
        Ok(Value::String(text))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{invert, step};
    use serde_json::json;

    #[test]
    fn explicit_formats_are_tried_in_order_and_errors_list_them() {
        let s = step(
            "datetime",
            json!({"formats": ["%d.%m.%Y", "%Y/%m/%d %H:%M:%S"]}),
        );
        assert_eq!(
            s.apply(json!("13.01.2025")).unwrap(),
            json!("2025-01-13T00:00:00Z")
        );
        assert_eq!(
            s.apply(json!("2025/01/13 10:30:05")).unwrap(),
            json!("2025-01-13T10:30:05Z")
        );
        let err = s.apply(json!("yesterday")).unwrap_err();
        assert!(err.reason.contains("%d.%m.%Y"), "{}", err.reason);
    }

    #[test]
    fn invalid_format_or_zone_fail_at_build_time() {
        let r = super::TransformRegistry::with_builtins();
        let bad_zone = json!({"timezone": "Mars/Olympus"})
            .as_object()
            .cloned()
            .unwrap();
        assert!(r.build("datetime", &bad_zone).is_err());
        let bad_format = json!({"formats": ["%Q"]}).as_object().cloned().unwrap();
        assert!(r.build("datetime", &bad_format).is_err());
    }

    #[test]
    fn inverse_formats_back_in_the_local_zone() {
        let s = step(
            "datetime",
            json!({"formats": ["%Y-%m-%d %H:%M"], "timezone": "America/New_York"}),
        );
        let out = s.apply(json!("2025-07-01 09:15")).unwrap();
        assert_eq!(out, json!("2025-07-01T13:15:00Z"));
        assert_eq!(invert(s.as_ref(), out), json!("2025-07-01 09:15"));
    }

    #[test]
    fn fixed_offsets_are_accepted() {
        let s = step(
            "datetime",
            json!({"formats": ["%Y-%m-%d %H:%M"], "timezone": "-05:00"}),
        );
        assert_eq!(
            s.apply(json!("2025-01-01 00:00")).unwrap(),
            json!("2025-01-01T05:00:00Z")
        );
    }
}
