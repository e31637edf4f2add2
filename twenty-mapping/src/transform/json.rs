//! `json_encode` / `json_decode`: nested objects to JSON text (TEXT fields) or RAW_JSON and back.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("json_encode", &json!({}), json!({"topics": ["rust"]})).unwrap(),
//!            json!(r#"{"topics":["rust"]}"#));
//! assert_eq!(apply_builtin("json_decode", &json!({}), json!(r#"{"a":1}"#)).unwrap(), json!({"a": 1}));
//! assert!(apply_builtin("json_decode", &json!({}), json!("{oops")).is_err());
//! // Twenty returns "" for a TEXT field that was never set: that decodes to null (no value).
//! assert_eq!(apply_builtin("json_decode", &json!({}), json!("")).unwrap(), json!(null));
//! ```
//!
//! `json_decode` treats the empty string as "no value" (`null`, so the rule writes nothing),
//! because Twenty gives `""` for a TEXT field that was never set; any other text must be JSON.
//! `json_encode` writes the same compact text as `serde_json::to_string` (keys in the object's
//! order) with a writer specialised for `Value`, or sorted keys with `canonical = true`.

use serde_json::{Map, Value};

use super::{Inverse, TransformRegistry, TransformStep, builtin, json_parse, json_type_name};
use crate::error::TransformError;
use crate::hash::canonical_json;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "json_encode", &["canonical"], |args| {
        Ok(Box::new(Encode {
            canonical: args.bool_or("canonical", false)?,
        }))
    });
    builtin(r, "json_decode", &[], |_| Ok(Box::new(Decode)));
}

struct Encode {
    canonical: bool,
}
struct Decode;

impl TransformStep for Encode {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let text = if self.canonical {
            canonical_json(input)
        } else {
            // Room for a typical small blob, so the text is not reallocated while it grows.
            let mut out = String::with_capacity(256);
            write_value(&mut out, input);
            out
        };
        Ok(Value::String(text))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Step(Box::new(Decode))
    }
}

impl TransformStep for Decode {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Json
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        match input {
            Value::String(s) if s.is_empty() => Ok(Value::Null),
            Value::String(s) => json_parse::parse(s).map_or_else(|| parse_with_serde_json(s), Ok),
            Value::Object(_) | Value::Array(_) => Ok(input.clone()),
            other => Err(TransformError::new(format!(
                "json_decode expects JSON text, got {}",
                json_type_name(other)
            ))),
        }
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        match input {
            Value::String(s) if s.is_empty() => Ok(Value::Null),
            Value::String(s) => json_parse::parse(&s).map_or_else(|| parse_with_serde_json(&s), Ok),
            // RAW_JSON may already hold the object: nothing to decode.
            Value::Object(_) | Value::Array(_) => Ok(input),
            other => Err(TransformError::new(format!(
                "json_decode expects JSON text, got {}",
                json_type_name(&other)
            ))),
        }
    }
    fn inverse(&self) -> Inverse {
        Inverse::Step(Box::new(Encode { canonical: false }))
    }
}

/// Parses JSON text with serde_json: the text the fast parser leaves, and every error.
fn parse_with_serde_json(s: &str) -> Result<Value, TransformError> {
    serde_json::from_str(s).map_err(|e| {
        TransformError::new(format!(
            "text is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

/// Appends `v` as compact JSON, byte for byte what `serde_json::to_writer` writes (object keys in
/// the map's order), without going through the generic serializer.
pub(crate) fn write_value(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_u64(out, u);
            } else if let Some(i) = n.as_i64() {
                // Negative (a non-negative i64 is also a u64).
                out.push('-');
                write_u64(out, i.unsigned_abs());
            } else {
                // `Number`'s Display is serde_json's own float formatting (ryu).
                use std::fmt::Write;
                let _ = write!(out, "{n}");
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => write_object(out, map),
    }
}

/// Appends the decimal digits of `u` (what serde_json writes for an integer).
fn write_u64(out: &mut String, mut u: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (u % 10) as u8;
        u /= 10;
        if u == 0 {
            break;
        }
    }
    // ASCII digits, pushed one by one: cheaper than checking them as UTF-8 to push them at once.
    out.reserve(buf.len() - i);
    for &digit in &buf[i..] {
        out.push(char::from(digit));
    }
}

fn write_object(out: &mut String, map: &Map<String, Value>) {
    out.push('{');
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_str(out, k);
        out.push(':');
        write_value(out, v);
    }
    out.push('}');
}

/// What serde_json writes for a byte of a string: 0 (as is), an escape letter, or `u` (`\u00XX`).
const ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0A] = b'n';
    t[0x0C] = b'f';
    t[0x0D] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// Appends `s` as a JSON string literal, escaping like serde_json (quotes, backslashes and
/// control characters; `\u00xx` in lowercase hex for the controls without a short escape).
#[inline]
fn write_str(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    while let Some(i) = next_escape(bytes, start) {
        // The byte is ASCII, so `i` is a character boundary.
        out.push_str(&s[start..i]);
        start = i + 1;
        let b = bytes[i];
        match ESCAPE[usize::from(b)] {
            b'u' => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xF)]));
            }
            letter => {
                out.push('\\');
                out.push(char::from(letter));
            }
        }
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The position of the first byte at or after `from` that JSON escapes (see [`ESCAPE`]).
///
/// Text rarely needs escaping, so it is scanned eight bytes at a time: a word is looked at byte
/// by byte only when it may hold a control character, a quote or a backslash.
pub(super) fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// High bit of each byte set where the byte is zero (and possibly above a zero byte,
    /// which only ever adds false alarms).
    fn zero_bytes(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        // Bytes below 0x20 (the same trick as `zero_bytes`, with 0x20 instead of 1).
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let quote = zero_bytes(w ^ (ONES * u64::from(b'"')));
        let backslash = zero_bytes(w ^ (ONES * u64::from(b'\\')));
        if control | quote | backslash != 0 {
            break;
        }
        i += 8;
    }
    bytes
        .get(i..)?
        .iter()
        .position(|&b| ESCAPE[usize::from(b)] != 0)
        .map(|p| i + p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            5 => crate::test_support::arb_non_string_scalar(),
            1 => Just(json!(i64::MIN)),
            1 => Just(json!(u64::MAX)),
            1 => Just(json!(0)),
            1 => any::<String>().prop_map(Value::String),
            1 => "[\\x00-\\x7f\"\\\\]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[\\x00-\\x7fé]{0,6}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn encode_writes_what_serde_json_writes(v in arb_json()) {
            let mut out = String::new();
            write_value(&mut out, &v);
            prop_assert_eq!(out, serde_json::to_string(&v).unwrap());
        }
    }

    #[test]
    fn encode_escapes_quotes_backslashes_and_controls_like_serde_json() {
        let v = json!({"k\"ey": "a\\b\"c\n\t\r\u{8}\u{c}\u{1}\u{1f}\u{7f}é/", "n": [1, -2, 0.5, null, true]});
        let mut out = String::new();
        write_value(&mut out, &v);
        assert_eq!(out, serde_json::to_string(&v).unwrap());
        assert!(out.contains(r"\u0001\u001f"), "{out}");
    }

    #[test]
    fn escapes_are_found_at_every_position_of_the_word_scan() {
        // The scan reads eight bytes at a time: put each escaped byte at every offset of a few
        // words, next to ASCII and multi-byte characters, and around the word boundaries.
        for special in ['"', '\\', '\n', '\u{0}', '\u{1f}', '\u{7f}', 'é', ' '] {
            for len in [1, 7, 8, 9, 15, 16, 17, 23] {
                for at in 0..len {
                    let text: String = (0..len)
                        .map(|i| if i == at { special } else { 'a' })
                        .collect();
                    let mut out = String::new();
                    write_str(&mut out, &text);
                    assert_eq!(out, serde_json::to_string(&text).unwrap(), "{text:?}");
                }
            }
        }
    }

    #[test]
    fn decode_of_empty_text_is_null_and_other_text_must_be_json() {
        assert_eq!(Decode.apply(json!("")).unwrap(), Value::Null);
        assert_eq!(Decode.apply_ref(&json!("")).unwrap(), Value::Null);
        // Only the empty string means "never set"; blank or broken text is still an error.
        assert!(Decode.apply(json!(" ")).is_err());
        assert!(Decode.apply_ref(&json!("{")).is_err());
        assert_eq!(Decode.apply(json!("[1]")).unwrap(), json!([1]));
    }
}
