//! Text transforms: `trim`, `collapse_whitespace`, `lowercase`, `uppercase`, `title_case`, `regex_replace`.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("collapse_whitespace", &json!({}), json!("  a \t b ")).unwrap(), json!("a b"));
//! assert_eq!(apply_builtin("title_case", &json!({}), json!("mcdonald")).unwrap(), json!("McDonald"));
//! assert_eq!(apply_builtin("title_case", &json!({}), json!("o'brien")).unwrap(), json!("O'Brien"));
//! assert_eq!(apply_builtin("title_case", &json!({}), json!("ludwig van der berg")).unwrap(),
//!            json!("Ludwig van der Berg"));
//! assert_eq!(apply_builtin("title_case", &json!({}), json!("al gore")).unwrap(), json!("Al Gore"));
//! assert_eq!(apply_builtin("title_case", &json!({}), json!("JOHN Y SMITH III")).unwrap(),
//!            json!("John Y Smith III"));
//! assert_eq!(apply_builtin("regex_replace", &json!({"pattern": "[^0-9]", "replacement": ""}),
//!            json!("a1-b2")).unwrap(), json!("12"));
//! ```

use std::borrow::Cow;

use regex::Regex;
use serde_json::Value;

use super::{
    Inverse, TransformArgs, TransformRegistry, TransformStep, builtin, into_text, text_ref,
};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "trim", &[], |_| Ok(Box::new(TextOp::Trim)));
    builtin(r, "collapse_whitespace", &[], |_| {
        Ok(Box::new(TextOp::Collapse))
    });
    builtin(r, "lowercase", &[], |_| Ok(Box::new(TextOp::Lower)));
    builtin(r, "uppercase", &[], |_| Ok(Box::new(TextOp::Upper)));
    builtin(r, "title_case", &[], |_| Ok(Box::new(TextOp::Title)));
    builtin(r, "regex_replace", &["pattern", "replacement"], build_regex);
}

#[derive(Debug, Clone, Copy)]
enum TextOp {
    Trim,
    Collapse,
    Lower,
    Upper,
    Title,
}

impl TransformStep for TextOp {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let s = into_text(input, "this transform")?;
        let out = match self {
            TextOp::Trim => {
                let t = s.trim();
                if t.len() == s.len() { s } else { t.to_owned() }
            }
            TextOp::Collapse => collapse_whitespace(s),
            TextOp::Lower => {
                if s.chars().any(char::is_uppercase) {
                    s.to_lowercase()
                } else {
                    s
                }
            }
            TextOp::Upper => {
                if s.chars().any(char::is_lowercase) {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            TextOp::Title => title_case_owned(s),
        };
        Ok(Value::String(out))
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let s = text_ref(input, "this transform")?;
        let out = match self {
            TextOp::Trim => s.trim().to_owned(),
            TextOp::Collapse => collapse_whitespace_ref(&s).into_owned(),
            TextOp::Lower => s.to_lowercase(),
            TextOp::Upper => s.to_uppercase(),
            TextOp::Title => title_case_owned(s.into_owned()),
        };
        Ok(Value::String(out))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Identity
    }
}

/// Trims and collapses runs of whitespace into one space; returns the input untouched when already clean.
pub(crate) fn collapse_whitespace(s: String) -> String {
    if is_collapsed(&s) {
        return s;
    }
    collapse_into_new(&s)
}

/// [`collapse_whitespace`] of borrowed text: borrows it back when already clean.
pub(crate) fn collapse_whitespace_ref(s: &str) -> Cow<'_, str> {
    if is_collapsed(s) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(collapse_into_new(s))
    }
}

/// Whether `s` has no whitespace to trim or collapse (what `collapse_whitespace` leaves).
pub(crate) fn is_collapsed(s: &str) -> bool {
    // One pass over the bytes answers for collapsed ASCII text, the usual case; the checks
    // below answer for the rest.
    if is_collapsed_ascii(s) {
        return true;
    }
    !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_whitespace() && w[1].is_ascii_whitespace())
        && !s.chars().any(|c| c.is_whitespace() && c != ' ')
}

fn collapse_into_new(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Lowercase name particles kept lowercase inside a name ("van der Berg", "de la Cruz"). A single
/// letter is never a particle: it is an initial ("John Y Smith").
pub(crate) fn is_particle(word: &str) -> bool {
    is_particle_bytes(word.as_bytes())
}

fn is_particle_bytes(word: &[u8]) -> bool {
    const PARTICLES: [&str; 21] = [
        "van", "der", "den", "de", "del", "della", "la", "le", "du", "von", "da", "di", "dos",
        "das", "do", "ter", "ten", "zu", "bin", "ibn", "al",
    ];
    (2..=5).contains(&word.len())
        && PARTICLES
            .iter()
            .any(|p| p.as_bytes().eq_ignore_ascii_case(word))
}

/// Whether the particle rule applies to the word at `index` of a name: any word but the first,
/// and the first only when the second is a particle too. A name's first word is a given name
/// ("Al Gore", "Van Morrison") unless the text is a family name on its own that starts with a
/// run of particles ("van der Berg", "de la Cruz").
fn particle_rule_applies(index: usize, leading_particle_run: bool) -> bool {
    index > 0 || leading_particle_run
}

/// Whether the first two of `words` are both particles.
fn starts_with_particle_run<'a>(mut words: impl Iterator<Item = &'a [u8]>) -> bool {
    words.next().is_some_and(is_particle_bytes) && words.next().is_some_and(is_particle_bytes)
}

/// Generational and professional name suffixes, in their usual case, without dots.
const NAME_SUFFIXES: [&str; 11] = [
    "Jr", "Sr", "Jnr", "Snr", "II", "III", "IV", "PhD", "MD", "DDS", "Esq",
];

/// The usual spelling, without dots, of the name suffix `word` ("Jr.", "iii", "Ph.D.," give
/// "Jr", "III", "PhD"), compared ignoring ASCII case, dots and commas; `None` when `word` is no
/// suffix.
pub(crate) fn name_suffix(word: &str) -> Option<&'static str> {
    name_suffix_bytes(word.as_bytes())
}

fn name_suffix_bytes(word: &[u8]) -> Option<&'static str> {
    // The longest suffix written with dots and a comma: "D.D.S.,".
    if word.len() > 7 {
        return None;
    }
    let letters = || {
        word.iter()
            .filter(|b| !matches!(b, b'.' | b','))
            .map(u8::to_ascii_lowercase)
    };
    NAME_SUFFIXES
        .iter()
        .copied()
        .find(|suffix| letters().eq(suffix.bytes().map(|b| b.to_ascii_lowercase())))
}

/// The index of the first word of the run of name suffixes that ends a name of `count` words
/// (`count` when it ends with none). The first word is never a suffix ("Iv Smith").
fn trailing_suffixes_start<'a>(
    count: usize,
    words: impl DoubleEndedIterator<Item = &'a [u8]>,
) -> usize {
    let suffixes = words
        .rev()
        .take_while(|w| name_suffix_bytes(w).is_some())
        .count();
    count - suffixes.min(count.saturating_sub(1))
}

/// Writes `word`, a name suffix, with the letters of its usual spelling `suffix` ("ph.d." →
/// "Ph.D."): both have the same letters up to ASCII case.
fn suffix_letters_in_place(word: &mut [u8], suffix: &str) {
    let mut letters = suffix.bytes();
    for b in word.iter_mut().filter(|b| !matches!(b, b'.' | b',')) {
        if let Some(letter) = letters.next() {
            *b = letter;
        }
    }
}

/// [`title_case_name`] of owned text. ASCII text that is already collapsed (what
/// `collapse_whitespace` leaves) keeps every byte in place, so it is recased in its own buffer.
fn title_case_owned(s: String) -> String {
    if !is_collapsed_ascii(&s) {
        return title_case_name(&s);
    }
    let mut bytes = s.into_bytes();
    title_case_ascii_in_place(&mut bytes);
    String::from_utf8(bytes).expect("recasing ASCII letters keeps ASCII text ASCII")
}

/// Whether `s` is ASCII with its words separated by single spaces and no space around them.
/// (ASCII whitespace other than the space, tab to carriage return, is ruled out.)
pub(crate) fn is_collapsed_ascii(s: &str) -> bool {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return false;
    }
    let mut previous_was_space = false;
    for &b in bytes {
        if !b.is_ascii() || (0x09..=0x0D).contains(&b) {
            return false;
        }
        let space = b == b' ';
        if space && previous_was_space {
            return false;
        }
        previous_was_space = space;
    }
    true
}

/// [`title_case_name`] of collapsed ASCII text (see [`is_collapsed_ascii`]), in place: for
/// ASCII, upper- and lowercasing a character is the ASCII mapping and keeps its length.
fn title_case_ascii_in_place(text: &mut [u8]) {
    let words = || text.split(|&b| b == b' ');
    let count = words().count();
    let leading_particle_run = starts_with_particle_run(words());
    let suffixes_start = trailing_suffixes_start(count, words());
    for (i, word) in text.split_mut(|&b| b == b' ').enumerate() {
        if particle_rule_applies(i, leading_particle_run) && is_particle_bytes(word) {
            word.make_ascii_lowercase();
            continue;
        }
        if i >= suffixes_start {
            if let Some(suffix) = name_suffix_bytes(word) {
                suffix_letters_in_place(word, suffix);
                continue;
            }
        }
        // As in `title_word`: "mc" + at least two more letters: McDonald, McKay.
        let mc = word.len() >= 2
            && word[..2].eq_ignore_ascii_case(b"mc")
            && word[2..].iter().filter(|b| b.is_ascii_alphabetic()).count() >= 2;
        let mut capitalise_next = true;
        for (i, b) in word.iter_mut().enumerate() {
            if capitalise_next && b.is_ascii_alphabetic() {
                b.make_ascii_uppercase();
                capitalise_next = false;
            } else {
                b.make_ascii_lowercase();
            }
            if *b == b'-' || *b == b'\'' || (mc && i == 1) {
                capitalise_next = true;
            }
        }
    }
}

/// Name-aware title case: particles stay lowercase after the first word, `Mc` prefixes and
/// letters after `'` or `-` are capitalised, and suffixes that end the name take their usual
/// case. "mcdonald" → "McDonald", "o'brien" → "O'Brien", "al gore" → "Al Gore", "john y smith"
/// → "John Y Smith", "john smith iii" → "John Smith III"; a family name on its own that starts
/// with a run of particles keeps them lowercase: "van der Berg" kept.
pub(crate) fn title_case_name(s: &str) -> String {
    let words = || s.split_whitespace().map(str::as_bytes);
    let count = words().count();
    let leading_particle_run = starts_with_particle_run(words());
    let suffixes_start = trailing_suffixes_start(count, words());
    let mut out = String::with_capacity(s.len());
    for (i, word) in s.split_whitespace().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if particle_rule_applies(i, leading_particle_run) && is_particle(word) {
            out.extend(word.chars().flat_map(char::to_lowercase));
        } else if let Some(suffix) = name_suffix(word).filter(|_| i >= suffixes_start) {
            write_suffix(word, suffix, &mut out);
        } else {
            title_word(word, &mut out);
        }
    }
    out
}

/// Appends `word`, a name suffix, with the letters of its usual spelling `suffix`.
fn write_suffix(word: &str, suffix: &str, out: &mut String) {
    let mut letters = suffix.chars();
    for c in word.chars() {
        match c {
            '.' | ',' => out.push(c),
            _ => out.extend(letters.next()),
        }
    }
}

fn title_word(word: &str, out: &mut String) {
    // "mc" + at least two more letters: McDonald, McKay.
    let mc = word.is_char_boundary(2)
        && word[..2].eq_ignore_ascii_case("mc")
        && word[2..].chars().filter(|c| c.is_alphabetic()).count() >= 2;
    let mut capitalise_next = true;
    for (i, c) in word.char_indices() {
        if capitalise_next && c.is_alphabetic() {
            out.extend(c.to_uppercase());
            capitalise_next = false;
        } else {
            out.extend(c.to_lowercase());
        }
        if c == '-' || c == '\'' || c == '’' || (mc && i == 1) {
            capitalise_next = true;
        }
    }
}

struct RegexReplace {
    regex: Regex,
    replacement: String,
}

fn build_regex(args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
    let pattern = args.required_str("pattern")?;
    let regex = Regex::new(pattern).map_err(|e| format!("invalid `pattern`: {e}"))?;
    let replacement = args.str("replacement")?.unwrap_or("").to_owned();
    Ok(Box::new(RegexReplace { regex, replacement }))
}

impl TransformStep for RegexReplace {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        let s = into_text(input, "regex_replace")?;
        match self.regex.replace_all(&s, self.replacement.as_str()) {
            std::borrow::Cow::Borrowed(_) => Ok(Value::String(s)),
            std::borrow::Cow::Owned(o) => Ok(Value::String(o)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::step;
    use super::*;
    use serde_json::json;

    #[test]
    fn title_case_handles_name_prefixes_and_particles() {
        for (input, want) in [
            ("MCDONALD", "McDonald"),
            ("mckay", "McKay"),
            ("mc", "Mc"),
            ("o'brien", "O'Brien"),
            ("jean-luc picard", "Jean-Luc Picard"),
            ("van der Berg", "van der Berg"),
            ("VINCENT VAN GOGH", "Vincent van Gogh"),
            ("van", "Van"),
            ("élodie durand", "Élodie Durand"),
        ] {
            assert_eq!(title_case_name(input), want, "{input}");
        }
    }

    #[test]
    fn title_case_keeps_a_leading_given_name_and_single_letters_capitalised() {
        for (input, want) in [
            ("al gore", "Al Gore"),
            ("AL GORE", "Al Gore"),
            ("van morrison", "Van Morrison"),
            ("del shannon", "Del Shannon"),
            ("john y smith", "John Y Smith"),
            ("JOHN Y SMITH", "John Y Smith"),
            ("ludwig van beethoven", "Ludwig van Beethoven"),
            ("anna de la cruz", "Anna de la Cruz"),
            // A family name on its own that starts with a run of particles keeps them (so does
            // "al di meola": text alone cannot tell it from "de la cruz").
            ("de la cruz", "de la Cruz"),
            ("VAN DER BERG", "van der Berg"),
            ("van berg", "Van Berg"),
        ] {
            assert_eq!(title_case_name(input), want, "{input}");
            assert_eq!(title_case_owned(input.to_owned()), want, "{input}");
        }
    }

    #[test]
    fn title_case_writes_name_suffixes_in_their_usual_case() {
        for (input, want) in [
            ("john smith iii", "John Smith III"),
            ("JOHN SMITH II", "John Smith II"),
            ("henry ford iv", "Henry Ford IV"),
            ("jane doe phd", "Jane Doe PhD"),
            ("jane doe, ph.d.", "Jane Doe, Ph.D."),
            ("martin luther king jr.", "Martin Luther King Jr."),
            ("iv", "Iv"),
        ] {
            assert_eq!(title_case_name(input), want, "{input}");
            assert_eq!(title_case_owned(input.to_owned()), want, "{input}");
        }
    }

    #[test]
    fn title_case_in_place_equals_the_general_title_case() {
        let words = [
            "mcdonald", "MC", "mc", "mcx", "Mcko", "o'brien", "jean-luc", "van", "DER", "de", "y",
            "la", "x", "ADA", "lovelace", "r2-d2", "'s", "-a", "a-", "3m", "della", "bin", "al",
            "jr.", "III", "ph.d.,", "md", "Esq",
        ];
        // Every one- to three-word combination, in collapsed form.
        let mut texts: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        for a in words {
            for b in words {
                texts.push(format!("{a} {b}"));
                for c in ["lovelace", "van", "mckay"] {
                    texts.push(format!("{a} {b} {c}"));
                }
            }
        }
        for text in texts {
            assert!(is_collapsed_ascii(&text), "{text:?}");
            assert_eq!(
                title_case_owned(text.clone()),
                title_case_name(&text),
                "{text:?}"
            );
        }
        // Text that is not collapsed ASCII takes the general path.
        for text in [
            "",
            " a",
            "a ",
            "a  b",
            "a\tb",
            "a\u{b}b",
            "élodie durand",
            "ß",
        ] {
            assert_eq!(is_collapsed_ascii(text), text.is_empty(), "{text:?}");
            assert_eq!(title_case_owned(text.to_owned()), title_case_name(text));
        }
    }

    #[test]
    fn trim_and_case_transforms_convert_scalars() {
        assert_eq!(
            step("trim", json!({})).apply(json!("  x ")).unwrap(),
            json!("x")
        );
        assert_eq!(
            step("uppercase", json!({})).apply(json!("ab")).unwrap(),
            json!("AB")
        );
        assert_eq!(
            step("lowercase", json!({})).apply(json!("AB")).unwrap(),
            json!("ab")
        );
        assert_eq!(
            step("trim", json!({})).apply(json!(12)).unwrap(),
            json!("12")
        );
        assert!(step("trim", json!({})).apply(json!({"a": 1})).is_err());
    }

    #[test]
    fn collapsed_ascii_text_is_collapsed_text() {
        // Every string of up to four characters from a set with each kind of ASCII whitespace.
        let alphabet = ['a', ' ', '\t', '\n', '\u{b}', '\u{c}', '\r', '\u{1f}', 'é'];
        let mut texts = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = texts
                .iter()
                .flat_map(|t| alphabet.iter().map(move |c| format!("{t}{c}")))
                .collect();
            texts.extend(longer);
        }
        for text in texts {
            let collapsed = collapse_into_new(&text) == text;
            assert_eq!(is_collapsed(&text), collapsed, "{text:?}");
            if is_collapsed_ascii(&text) {
                assert!(collapsed, "{text:?}");
            }
        }
    }

    #[test]
    fn collapse_whitespace_collapses_tabs_and_newlines() {
        assert_eq!(collapse_whitespace("a\t\n b  c ".into()), "a b c");
        assert_eq!(collapse_whitespace("a b".into()), "a b");
    }

    #[test]
    fn regex_replace_rejects_invalid_patterns_at_build_time() {
        let map = json!({"pattern": "("}).as_object().cloned().unwrap();
        assert!(
            TransformRegistry::with_builtins()
                .build("regex_replace", &map)
                .is_err()
        );
    }
}
