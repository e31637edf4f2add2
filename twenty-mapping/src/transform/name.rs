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
//! assert_eq!(apply_builtin("split_name", &json!({}), json!("Martin Luther King, Jr.")).unwrap(),
//!            json!({"firstName": "Martin Luther", "lastName": "King Jr."}));
//! assert_eq!(apply_builtin("split_name", &json!({}), json!("John Y Smith")).unwrap(),
//!            json!({"firstName": "John Y", "lastName": "Smith"}));
//! assert_eq!(apply_builtin("join_name", &json!({}), json!({"firstName": "Ada", "lastName": "Lovelace"})).unwrap(),
//!            json!("Ada Lovelace"));
//! ```

use std::sync::LazyLock;

use serde_json::Value;

use super::fixed_object::FixedObject;

use super::text::{is_collapsed, is_particle, name_suffix};
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

/// Splits a display name into first and last name. Name suffixes that end it ("Jr.", "III",
/// "PhD", after a space or a comma) are set aside first and end the last name; then the rest is
/// "Last, First" when it has a comma, otherwise its last word plus any particles before it
/// ("van", "de", ...) is the last name. The first word always stays in the first name, except
/// that a single word before suffixes is a family name ("Smith, Jr.").
pub(crate) fn split_name(s: &str) -> Result<(String, String), TransformError> {
    let (core, suffixes) = split_off_suffixes(s);
    let (first, last) = split_without_suffixes(core)?;
    Ok(with_suffixes(first, last, &suffixes))
}

/// [`split_name`] of a name without suffixes.
fn split_without_suffixes(s: &str) -> Result<(String, String), TransformError> {
    if let Some((last, first)) = s.split_once(',') {
        let (first, last) = (first.trim(), last.trim());
        if first.contains(',') || last.is_empty() {
            return Err(TransformError::new(
                "name has more than one comma or nothing before it; write it as \"First Last\" \
                 or \"Last, First\"",
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

fn is_name_separator(c: char) -> bool {
    c.is_whitespace() || c == ','
}

/// Splits the name suffixes that end `s` (separated by spaces or commas) off it: `s` without
/// them, and them in order. The first word of `s` is never a suffix.
fn split_off_suffixes(s: &str) -> (&str, Vec<&str>) {
    let mut rest = s.trim_end_matches(is_name_separator);
    let mut suffixes = Vec::new();
    while let Some((before, word)) = split_last_word(rest) {
        if name_suffix(word).is_none() || before.trim_start_matches(is_name_separator).is_empty() {
            break;
        }
        suffixes.push(word);
        rest = before;
    }
    suffixes.reverse();
    (rest, suffixes)
}

/// `s` before its last separator (without the separators that end it), and the word after it;
/// `None` for a single word.
fn split_last_word(s: &str) -> Option<(&str, &str)> {
    let (at, separator) = s
        .char_indices()
        .rev()
        .find(|(_, c)| is_name_separator(*c))?;
    let word = &s[at + separator.len_utf8()..];
    Some((s[..at].trim_end_matches(is_name_separator), word))
}

/// The last name followed by `suffixes`; a name of one word before its suffixes is the family
/// name ("Smith Jr.").
fn with_suffixes(first: String, last: String, suffixes: &[&str]) -> (String, String) {
    if suffixes.is_empty() {
        return (first, last);
    }
    let (first, mut last) = if last.is_empty() {
        (String::new(), first)
    } else {
        (first, last)
    };
    for suffix in suffixes {
        last.push(' ');
        last.push_str(suffix);
    }
    (first, last)
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
/// comma, whitespace to collapse, or a suffix at the end) is handed back as `Err`.
fn split_collapsed(mut s: String) -> Result<(String, String), String> {
    if s.contains(',') || !is_collapsed(&s) || ends_with_suffix(&s) {
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

/// Whether collapsed text of more than one word ends with a name suffix.
fn ends_with_suffix(s: &str) -> bool {
    s.rsplit_once(' ')
        .is_some_and(|(_, last)| name_suffix(last).is_some())
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
    fn split_name_never_moves_a_single_letter_to_the_last_name() {
        for (input, first, last) in [
            ("John Y Smith", "John Y", "Smith"),
            ("John y Smith", "John y", "Smith"),
            ("Al Gore", "Al", "Gore"),
            ("Al Di Meola", "Al", "Di Meola"),
        ] {
            assert_eq!(
                split_name(input).unwrap(),
                (first.to_owned(), last.to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn split_name_keeps_suffixes_with_the_last_name() {
        for (input, first, last) in [
            ("Martin Luther King, Jr.", "Martin Luther", "King Jr."),
            ("Martin Luther King Jr.", "Martin Luther", "King Jr."),
            ("King, Martin Luther, Jr.", "Martin Luther", "King Jr."),
            ("King, Martin Luther Jr.", "Martin Luther", "King Jr."),
            ("John Smith III", "John", "Smith III"),
            ("Jane Doe, PhD", "Jane", "Doe PhD"),
            ("Jane Doe, Ph.D.", "Jane", "Doe Ph.D."),
            ("John Smith Jr., MD", "John", "Smith Jr. MD"),
            ("Ludwig van Beethoven Sr", "Ludwig", "van Beethoven Sr"),
            ("Smith, Jr.", "", "Smith Jr."),
            ("Smith Jr.", "", "Smith Jr."),
            // A suffix word alone, or first, is a name.
            ("Jr.", "Jr.", ""),
            ("Iv Smith", "Iv", "Smith"),
        ] {
            assert_eq!(
                split_name(input).unwrap(),
                (first.to_owned(), last.to_owned()),
                "{input:?}"
            );
        }
    }

    #[test]
    fn names_with_suffixes_round_trip_through_join_name() {
        for input in [
            "Martin Luther King Jr.",
            "Martin Luther King, Jr.",
            "John Smith III",
            "Smith Jr.",
        ] {
            let split = SplitName.apply(json!(input)).unwrap();
            let joined = JoinName.apply(split.clone()).unwrap();
            assert_eq!(SplitName.apply(joined).unwrap(), split, "{input:?}");
        }
    }

    #[test]
    fn split_of_collapsed_owned_text_equals_split_name() {
        let words = [
            "Ada", "van", "der", "de", "la", "Élodie", "y", "Berg", "O'Brien", "Zürich", "Jr.",
            "III",
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
            // Text ending with a suffix is handed back to `split_name`; any other is split here.
            let want = if ends_with_suffix(&text) {
                Err(())
            } else {
                Ok(split_name(&text).unwrap())
            };
            assert_eq!(
                split_collapsed(text.clone()).map_err(|_| ()),
                want,
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
            "Martin Luther King Jr.",
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
