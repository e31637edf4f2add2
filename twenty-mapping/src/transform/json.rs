//! `json_encode` / `json_decode`: nested objects to JSON text (TEXT fields) or RAW_JSON and back.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("json_encode", &json!({}), json!({"topics": ["rust"]})).unwrap(),
//!            json!(r#"{"topics":["rust"]}"#));
//! assert_eq!(apply_builtin("json_decode", &json!({}), json!(r#"{"a":1}"#)).unwrap(), json!({"a": 1}));
//! assert!(apply_builtin("json_decode", &json!({}), json!("{oops")).is_err());
//! ```

use serde_json::Value;

use super::{builtin, json_type_name, Inverse, TransformRegistry, TransformStep};
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
            let mut buf = Vec::with_capacity(128);
            serde_json::to_writer(&mut buf, input)
                .map_err(|e| TransformError::new(format!("cannot encode JSON: {e}")))?;
            String::from_utf8(buf)
                .map_err(|e| TransformError::new(format!("cannot encode JSON: {e}")))?
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
            Value::String(s) => serde_json::from_str(s).map_err(|e| {
                TransformError::new(format!(
                    "text is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            }),
            Value::Object(_) | Value::Array(_) => Ok(input.clone()),
            other => Err(TransformError::new(format!(
                "json_decode expects JSON text, got {}",
                json_type_name(other)
            ))),
        }
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        match input {
            Value::String(s) => serde_json::from_str(&s).map_err(|e| {
                TransformError::new(format!(
                    "text is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            }),
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
