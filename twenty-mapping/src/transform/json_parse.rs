//! A parser for the JSON text `json_decode` usually reads (objects, arrays, integers, strings
//! without escapes), giving exactly the `Value` that `serde_json::from_str` gives.
//!
//! It only ever answers for text it is sure about: anything else (a fraction or an exponent,
//! an escape in a string, an integer that does not fit, deep nesting, a syntax error, serde_json's
//! private marker keys) makes it return `None`, and the caller parses the text with serde_json,
//! which then gives the value or the error as before. It is faster than serde_json's generic
//! deserializer because it builds each object's map at its final size (no regrowing) and skips
//! the visitor machinery.

use serde_json::{Map, Value};

use super::json::next_escape;

/// Nesting deeper than this is left to serde_json (which stops at 128 levels).
const MAX_DEPTH: usize = 64;

/// The value of `text`, when it is JSON of the supported subset; `None` otherwise.
pub(crate) fn parse(text: &str) -> Option<Value> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
        entries: Vec::new(),
        items: Vec::new(),
    };
    let value = parser.value()?;
    parser.skip_whitespace();
    (parser.pos == text.len()).then_some(value)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
    /// Entries of the objects being parsed (innermost last), so each map is built at its size.
    entries: Vec<(String, Value)>,
    /// Items of the arrays being parsed, likewise.
    items: Vec<Value>,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    /// Skips what serde_json counts as whitespace.
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn value(&mut self) -> Option<Value> {
        self.skip_whitespace();
        match self.peek()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self.string().map(Value::String),
            b't' => self.literal("true", Value::Bool(true)),
            b'f' => self.literal("false", Value::Bool(false)),
            b'n' => self.literal("null", Value::Null),
            b'-' | b'0'..=b'9' => self.integer(),
            _ => None,
        }
    }

    fn literal(&mut self, word: &str, value: Value) -> Option<Value> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(value)
        } else {
            None
        }
    }

    /// A string without escapes or control characters (the others are left to serde_json).
    fn string(&mut self) -> Option<String> {
        let start = self.pos + 1;
        let end = next_escape(self.text.as_bytes(), start)?;
        if self.text.as_bytes()[end] != b'"' {
            return None;
        }
        self.pos = end + 1;
        // `start` and `end` are next to ASCII quotes: character boundaries.
        Some(self.text[start..end].to_owned())
    }

    /// An integer as serde_json holds it: `u64` when not negative, `i64` when negative; `None`
    /// for what serde_json turns into a float (fractions, exponents, `-0`, out of range) or
    /// rejects (leading zeros).
    fn integer(&mut self) -> Option<Value> {
        let bytes = self.text.as_bytes();
        let negative = bytes[self.pos] == b'-';
        let mut i = self.pos + usize::from(negative);
        let first = *bytes.get(i)?;
        if !first.is_ascii_digit() {
            return None;
        }
        let mut significand: u64 = 0;
        while let Some(&b) = bytes.get(i).filter(|b| b.is_ascii_digit()) {
            significand = significand
                .checked_mul(10)?
                .checked_add(u64::from(b - b'0'))?;
            i += 1;
        }
        if matches!(bytes.get(i), Some(b'.' | b'e' | b'E'))
            || (first == b'0' && i - self.pos > 1 + usize::from(negative))
        {
            return None;
        }
        self.pos = i;
        if !negative {
            return Some(Value::from(significand));
        }
        // serde_json: the negation as i64; zero or an underflow becomes a float.
        let negated = (significand as i64).wrapping_neg();
        (negated < 0).then(|| Value::from(negated))
    }

    fn object(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let start = self.entries.len();
        self.skip_whitespace();
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                self.skip_whitespace();
                if self.peek()? != b'"' {
                    return None;
                }
                let key = self.string()?;
                // serde_json treats its private marker keys specially.
                if key.starts_with("$serde_json::private::") {
                    return None;
                }
                self.skip_whitespace();
                if self.peek()? != b':' {
                    return None;
                }
                self.pos += 1;
                let value = self.value()?;
                self.entries.push((key, value));
                self.skip_whitespace();
                match self.peek()? {
                    b',' => self.pos += 1,
                    b'}' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let mut map = Map::with_capacity(self.entries.len() - start);
        // `insert`, as serde_json does: a repeated key keeps its first place and its last value.
        for (key, value) in self.entries.drain(start..) {
            map.insert(key, value);
        }
        self.depth -= 1;
        Some(Value::Object(map))
    }

    fn array(&mut self) -> Option<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.pos += 1;
        let start = self.items.len();
        self.skip_whitespace();
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                let value = self.value()?;
                self.items.push(value);
                self.skip_whitespace();
                match self.peek()? {
                    b',' => self.pos += 1,
                    b']' => {
                        self.pos += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        let items: Vec<Value> = self.items.drain(start..).collect();
        self.depth -= 1;
        Some(Value::Array(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    /// Checks that whenever the parser answers, serde_json gives the same value, with the same
    /// number representations and key order.
    fn agrees(text: &str) -> bool {
        let Some(got) = parse(text) else {
            return false;
        };
        let want: Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{text:?}: parsed, but serde_json says {e}"));
        assert_eq!(got, want, "{text:?}");
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            serde_json::to_string(&want).unwrap(),
            "{text:?}"
        );
        true
    }

    #[test]
    fn parses_blobs_like_serde_json() {
        for text in [
            r#"{"summary":"Met ada at event 12 ; interested in sync","topics":["sync","crm"],"last_model":"assistant-v2","confidence":87}"#,
            r#"{"emails":142,"calls":3,"meetings":0,"last_channel":"email"}"#,
            " { \"a\" : [ 1 , -2 , true , false , null , { } , [ ] ] , \"b\" : \"é日\" } \n",
            r#"{"a":1,"b":2,"a":3}"#,
            "18446744073709551615",
            "-9223372036854775808",
            "-1",
            "0",
            "[]",
            r#""""#,
        ] {
            assert!(agrees(text), "{text:?} should take the fast path");
        }
        assert_eq!(
            parse(r#"{"a":1,"b":2,"a":3}"#),
            Some(json!({"a": 3, "b": 2}))
        );
    }

    #[test]
    fn leaves_everything_else_to_serde_json() {
        for text in [
            "",
            " ",
            "1.5",
            "1e3",
            "1E3",
            "-0",
            "01",
            "-01",
            "-",
            "18446744073709551616",
            "-9223372036854775809",
            "\"a\\nb\"",
            "\"a\u{1}b\"",
            "\"abc",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "[1 2]",
            "tru",
            "nul",
            "true x",
            "{} {}",
            "{\"a\":1",
            r#"{"$serde_json::private::RawValue":"{}"}"#,
            "\u{feff}{}",
            "[1]]",
            &"[".repeat(70),
            &format!("{}{}", "[".repeat(65), "]".repeat(65)),
        ] {
            assert!(parse(text).is_none(), "{text:?}");
        }
        // Nesting up to the limit is parsed.
        assert!(agrees(&format!("{}{}", "[".repeat(64), "]".repeat(64))));
    }

    fn arb_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            5 => crate::test_support::arb_non_string_scalar(),
            1 => any::<String>().prop_map(Value::String),
            1 => "[a-z é\"\\\\]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(5, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-c\"é]{0,3}", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]

        /// Serialized values, compact and pretty: the parser agrees with serde_json whenever it
        /// answers, and answers for every value of the supported subset.
        #[test]
        fn agrees_with_serde_json_on_serialized_values(v in arb_json()) {
            for text in [serde_json::to_string(&v).unwrap(), serde_json::to_string_pretty(&v).unwrap()] {
                let answered = agrees(&text);
                let supported = !text.contains('\\') && !text.contains(['.', 'e', 'E'])
                    && !text.contains("-0") && !text.contains(|c: char| c.is_control() && !c.is_whitespace());
                if supported {
                    prop_assert!(answered, "{}", text);
                }
            }
        }

        /// Arbitrary text made of JSON's characters: never a value serde_json would not give.
        #[test]
        fn never_accepts_what_serde_json_rejects(text in "[\\[\\]{}\",: 0-9a-z.eE+\\-\\\\\n]{0,24}") {
            agrees(&text);
        }
    }
}
