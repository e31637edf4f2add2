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

use std::sync::LazyLock;

use serde_json::Value;

use super::fixed_object::FixedObject;

use super::text::{is_collapsed, is_particle};
use super::{
    Inverse, TransformRegistry, TransformStep, builtin, json_type_name, small_map_get, text_ref,
};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "split_name", &[], |_| Ok(Box::new(SplitName)));
    builtin(r, "join_name", &[], |_| Ok(Box::new(JoinName)));
}

struct SplitName;
struct JoinName;

fn full_name(first: String, last: String) -> Value {
    static FULL_NAME: LazyLock<FixedObject<2>> =
        LazyLock::new(|| FixedObject::new(["firstName", "lastName"]));
    FULL_NAME.build([Value::String(first), Value::String(last)])
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
    match last_name_start(s) {
        (0, _) => Ok((String::new(), String::new())),
        (1, _) => Ok((s.trim().to_owned(), String::new())),
        (_, start) => {
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

/// The number of words of a name without a comma, and the index of the word the last name
/// starts at: the last word, moved back over particles ("van", "de", ...) as long as a first
/// name remains.
fn last_name_start(s: &str) -> (usize, usize) {
    // Count the words and the particles right before the last.
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
    // At least one word stays in the first name.
    let start = match count {
        0 | 1 => count,
        n => n - 1 - particles_before_last.min(n - 2),
    };
    (count, start)
}

/// [`split_name`] of owned text whose words are already separated by single spaces (what
/// `collapse_whitespace` leaves): the first name keeps the text's buffer. Other text (with a
/// comma, or whitespace to collapse) is handed back as `Err`.
fn split_collapsed(mut s: String) -> Result<(String, String), String> {
    if s.contains(',') || !is_collapsed(&s) {
        return Err(s);
    }
    match last_name_start(&s) {
        (0 | 1, _) => Ok((s, String::new())),
        (_, start) => {
            // Words are separated by exactly one space: the last name starts after the
            // `start`-th space.
            let Some((space, _)) = s.match_indices(' ').nth(start - 1) else {
                return Err(s);
            };
            let last = s[space + 1..].to_owned();
            s.truncate(space);
            Ok((s, last))
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
        match input {
            Value::String(s) => match split_collapsed(s) {
                Ok((first, last)) => Ok(full_name(first, last)),
                Err(s) => {
                    let (first, last) = split_name(&s)?;
                    Ok(full_name(first, last))
                }
            },
            other => self.apply_ref(&other),
        }
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
                small_map_get(m, "firstName")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                small_map_get(m, "lastName")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
            ),
            Value::Array(items) => (
                items.first().and_then(Value::as_str).unwrap_or(""),
                items.get(1).and_then(Value::as_str).unwrap_or(""),
            ),
            other => {
                return Err(TransformError::new(format!(
                    "join_name expects {{firstName, lastName}}, got {}",
                    json_type_name(other)
                )));
            }
        };
        let (first, last) = (first.trim(), last.trim());
        let joined = match (first.is_empty(), last.is_empty()) {
            (true, true) => return Ok(Value::Null),
            (false, true) => first.to_owned(),
            (true, false) => last.to_owned(),
            (false, false) => {
                let mut joined = String::with_capacity(first.len() + 1 + last.len());
                joined.push_str(first);
                joined.push(' ');
                joined.push_str(last);
                joined
            }
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
    fn split_of_collapsed_owned_text_equals_split_name() {
        let words = [
            "Ada", "van", "der", "de", "la", "Élodie", "y", "Berg", "O'Brien", "Zürich",
        ];
        let mut texts = vec![String::new()];
        for a in words {
            texts.push(a.to_owned());
            for b in words {
                texts.push(format!("{a} {b}"));
                for c in words {
                    texts.push(format!("{a} {b} {c}"));
                    texts.push(format!("{a} {b} {c} Smith"));
                }
            }
        }
        for text in texts {
            assert_eq!(
                split_collapsed(text.clone()).map_err(|_| ()),
                Ok(split_name(&text).unwrap()),
                "{text:?}"
            );
        }
        // Text with a comma or whitespace to collapse is handed back untouched.
        for text in ["Lovelace, Ada", " Ada", "Ada  L", "Ada\tL", "Ada "] {
            assert_eq!(split_collapsed(text.to_owned()), Err(text.to_owned()));
        }
        // And the step gives the same value either way.
        for text in [
            "Jan van der Berg",
            "Lovelace, Ada",
            "  Ada   Lovelace ",
            "Cher",
        ] {
            assert_eq!(
                SplitName.apply(json!(text)).unwrap(),
                SplitName.apply_ref(&json!(text)).unwrap()
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
