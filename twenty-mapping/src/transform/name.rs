//! `split_name` (full name → FULL_NAME `{firstName, lastName}`) and its inverse `join_name`.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("split_name", &json!({}), json!("Ada Lovelace")).unwrap(),
//!            json!({"firstName": "Ada", "lastName": "Lovelace"}));
//! assert_eq!(apply_builtin("split_name", &json!({}), json!("Ludwig van Beethoven")).unwrap(),
//!            json!({"firstName": "Ludwig", "lastName": "van Beethoven"}));
//! assert_eq!(apply_builtin("split_name", &json!({}), json!("Lovelace, Ada")).unwrap(),
//!            json!({"firstName": "Ada", "lastName": "Lovelace"}));
//! assert_eq!(apply_builtin("join_name", &json!({}), json!({"firstName": "Ada", "lastName": "Lovelace"})).unwrap(),
//!            json!("Ada Lovelace"));
//! ```

use serde_json::{Map, Value};

use super::text::is_particle;
use super::{builtin, json_type_name, text_ref, Inverse, TransformRegistry, TransformStep};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "split_name", &[], |_| Ok(Box::new(SplitName)));
    builtin(r, "join_name", &[], |_| Ok(Box::new(JoinName)));
}

struct SplitName;
struct JoinName;

fn full_name(first: String, last: String) -> Value {
    let mut m = Map::with_capacity(2);
    m.insert("firstName".to_owned(), Value::String(first));
    m.insert("lastName".to_owned(), Value::String(last));
    Value::Object(m)
}

/// Splits a display name: "Last, First" when there is a comma; otherwise the last word plus any
/// particles before it ("van", "de", ...) is the last name.
pub(crate) fn split_name(s: &str) -> Result<(String, String), TransformError> {
    if let Some((last, first)) = s.split_once(',') {
        let (first, last) = (first.trim(), last.trim());
        if first.contains(',') || last.is_empty() {
            return Err(TransformError::new(
                "name has more than one comma or nothing before it",
            ));
        }
        return Ok((join_words(first), join_words(last)));
    }
    // The last name starts at the last word, moved back over particles ("van", "de", ...)
    // as long as a first name remains: count the words and the particles before the last.
    let mut count = 0;
    let mut particles_before_last = 0;
    let mut previous_was_particle = false;
    for word in s.split_whitespace() {
        if count > 0 {
            particles_before_last = if previous_was_particle {
                particles_before_last + 1
            } else {
                0
            };
        }
        previous_was_particle = is_particle(word);
        count += 1;
    }
    match count {
        0 => Ok((String::new(), String::new())),
        1 => Ok((s.trim().to_owned(), String::new())),
        n => {
            // At least one word stays in the first name.
            let start = n - 1 - particles_before_last.min(n - 2);
            let mut first = String::with_capacity(s.len());
            let mut last = String::with_capacity(s.len());
            for (i, word) in s.split_whitespace().enumerate() {
                let part = if i < start { &mut first } else { &mut last };
                if !part.is_empty() {
                    part.push(' ');
                }
                part.push_str(word);
            }
            Ok((first, last))
        }
    }
}

fn join_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

impl TransformStep for SplitName {
    fn output_kind(&self) -> ValueKind {
        ValueKind::FullName
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let s = text_ref(input, "split_name")?;
        let (first, last) = split_name(&s)?;
        Ok(full_name(first, last))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Step(Box::new(JoinName))
    }
}

impl TransformStep for JoinName {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let (first, last) = match input {
            Value::Object(m) => (
                m.get("firstName").and_then(Value::as_str).unwrap_or(""),
                m.get("lastName").and_then(Value::as_str).unwrap_or(""),
            ),
            Value::Array(items) => (
                items.first().and_then(Value::as_str).unwrap_or(""),
                items.get(1).and_then(Value::as_str).unwrap_or(""),
            ),
            other => {
                return Err(TransformError::new(format!(
                    "join_name expects {{firstName, lastName}}, got {}",
                    json_type_name(other)
                )))
            }
        };
        let (first, last) = (first.trim(), last.trim());
        let joined = match (first.is_empty(), last.is_empty()) {
            (true, true) => return Ok(Value::Null),
            (false, true) => first.to_owned(),
            (true, false) => last.to_owned(),
            (false, false) => format!("{first} {last}"),
        };
        Ok(Value::String(joined))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Step(Box::new(SplitName))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_name_keeps_middle_names_with_the_first_name() {
        assert_eq!(
            split_name("Mary Ann Smith").unwrap(),
            ("Mary Ann".into(), "Smith".into())
        );
        assert_eq!(split_name("Cher").unwrap(), ("Cher".into(), String::new()));
        assert_eq!(
            split_name("Anna de la Cruz").unwrap(),
            ("Anna".into(), "de la Cruz".into())
        );
    }

    #[test]
    fn split_name_moves_particles_to_the_last_name_but_keeps_a_first_name() {
        let cases = [
            ("  Ada   Lovelace ", "Ada", "Lovelace"),
            ("Ludwig van Beethoven", "Ludwig", "van Beethoven"),
            ("Jan van der Berg", "Jan", "van der Berg"),
            ("van Berg", "van", "Berg"),
            ("de la Cruz", "de", "la Cruz"),
            ("Maria de Souza Santos", "Maria de Souza", "Santos"),
            ("A B van C", "A B", "van C"),
            (" Solo ", "Solo", ""),
        ];
        for (input, first, last) in cases {
            assert_eq!(
                split_name(input).unwrap(),
                (first.to_owned(), last.to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn join_name_skips_empty_parts_and_round_trips() {
        assert_eq!(
            JoinName
                .apply(json!({"firstName": "Cher", "lastName": ""}))
                .unwrap(),
            json!("Cher")
        );
        assert_eq!(
            JoinName.apply(json!({"firstName": ""})).unwrap(),
            json!(null)
        );
        let split = SplitName.apply(json!("Ludwig van Beethoven")).unwrap();
        assert_eq!(
            JoinName.apply(split).unwrap(),
            json!("Ludwig van Beethoven")
        );
        assert!(JoinName.apply(json!(3)).is_err());
    }
}
