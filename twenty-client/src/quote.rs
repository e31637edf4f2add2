//! Quoting what a server sent in an error message: bounded in size, secrets blanked.
//!
//! Every excerpt of a server's body or message that reaches an [`Error`](crate::Error) goes
//! through [`quote`] or [`quote_body`]. A webhook subscription's answer carries its signing
//! secret near the start (`{"id":…,"targetUrl":…,"secret":"…"}`), so an excerpt of a body that
//! failed to decode would otherwise show it.

use crate::error::bound;

/// What a secret value is replaced with (a JSON string, so the excerpt still reads as JSON).
pub(crate) const REDACTED: &str = "\"[REDACTED]\"";

/// A server's body as text for an error message: at most `max` bytes, secrets blanked.
pub(crate) fn quote_body(body: &[u8], max: usize) -> String {
    quote(&String::from_utf8_lossy(body), max)
}

/// A server's text for an error message: at most `max` bytes, secrets blanked
/// ([`redact_secrets`]).
pub(crate) fn quote(text: &str, max: usize) -> String {
    bound(&redact_secrets(text), max)
}

/// `text` with the value of every JSON key naming a secret (containing `secret` in any case:
/// `secret`, `Secret`, `webhookSecret` …) replaced by [`REDACTED`].
///
/// Works on any prefix of a JSON text, as a body cut off in transit or by an excerpt is: a value
/// cut off is blanked to the end. Strings are read with their escapes, so a key-like text inside
/// a string value is left alone; text that is not JSON passes unchanged.
pub(crate) fn redact_secrets(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'"' {
            at += 1;
            continue;
        }
        let string_end = skip_string(bytes, at);
        let colon = skip_whitespace(bytes, string_end);
        let is_key = bytes.get(colon) == Some(&b':');
        if is_key && names_a_secret(&text[at..string_end]) {
            let value_start = skip_whitespace(bytes, colon + 1);
            out.push_str(&text[copied..value_start]);
            out.push_str(REDACTED);
            copied = skip_value(bytes, value_start);
            at = copied;
        } else {
            at = string_end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Whether a (quoted, possibly escaped) JSON key names a secret.
fn names_a_secret(quoted_key: &str) -> bool {
    quoted_key.to_ascii_lowercase().contains("secret")
}

/// Index just past the string opening at `start` (a `"`), or the end of a cut-off text.
fn skip_string(bytes: &[u8], start: usize) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Index of the first byte at or after `at` that is not JSON whitespace.
fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() && bytes[at].is_ascii_whitespace() {
        at += 1;
    }
    at
}

/// Index just past the JSON value starting at `start`, or the end of a cut-off text.
fn skip_value(bytes: &[u8], start: usize) -> usize {
    match bytes.get(start) {
        None => bytes.len(),
        Some(b'"') => skip_string(bytes, start),
        Some(b'{' | b'[') => skip_nested(bytes, start),
        Some(_) => skip_scalar(bytes, start),
    }
}

/// Index just past the object or array opening at `start`, strings inside read whole.
fn skip_nested(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut at = start;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                at = skip_string(bytes, at);
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return at + 1;
                }
            }
            _ => {}
        }
        at += 1;
    }
    bytes.len()
}

/// Index just past a number, `true`, `false` or `null` starting at `start`.
fn skip_scalar(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace())
        .map_or(bytes.len(), |len| start + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_bodies_blank_secret_values_of_every_shape() {
        let cases = [
            (
                r#"{"secret":"abc\"def","id":1}"#,
                r#"{"secret":"[REDACTED]","id":1}"#,
            ),
            (
                r#"{"SECRET" : 12345, "id":1}"#,
                r#"{"SECRET" : "[REDACTED]", "id":1}"#,
            ),
            (
                r#"{"webhookSecret":{"a":["}"]},"id":1}"#,
                r#"{"webhookSecret":"[REDACTED]","id":1}"#,
            ),
            (r#"[{"secret":["x"]}]"#, r#"[{"secret":"[REDACTED]"}]"#),
            // Cut off inside the value, or before it.
            (r#"{"secret":"abc"#, r#"{"secret":"[REDACTED]""#),
            (r#"{"secret": tru"#, r#"{"secret": "[REDACTED]""#),
            (r#"{"secret":{"a":"b"#, r#"{"secret":"[REDACTED]""#),
            (r#"{"secret":"#, r#"{"secret":"[REDACTED]""#),
            (r#"{"secret\"#, r#"{"secret\"#),
            // A key-like text inside a string value, and a value that reads "secret".
            (
                r#"{"note":"\"secret\": \"x\"","id":1}"#,
                r#"{"note":"\"secret\": \"x\"","id":1}"#,
            ),
            (
                r#"{"description":"secret","secret":null}"#,
                r#"{"description":"secret","secret":"[REDACTED]"}"#,
            ),
            ("<html>secret: plain</html>", "<html>secret: plain</html>"),
            ("", ""),
        ];
        for (body, quoted) in cases {
            assert_eq!(quote_body(body.as_bytes(), 512), quoted, "{body}");
        }
    }

    #[test]
    fn a_long_secret_is_blanked_before_the_excerpt_is_cut() {
        let long = format!(r#"{{"secret":"{}","id":"é"}}"#, "x".repeat(1000));
        let quoted = quote_body(long.as_bytes(), 200);
        assert_eq!(quoted, r#"{"secret":"[REDACTED]","id":"é"}"#);
        let cut = quote(&long[..600], 20);
        assert!(!cut.contains('x') && cut.contains("omitted"), "{cut}");
    }

    #[test]
    fn text_that_is_not_utf8_or_json_passes_unchanged_and_bounded() {
        let body = [b'{', b'"', 0xff, b'"', b':', b'1', b'}'];
        assert_eq!(quote_body(&body, 100), "{\"\u{fffd}\":1}");
        let html = "<p class=\"x\">".repeat(100);
        let quoted = quote(&html, 30);
        assert!(quoted.starts_with("<p class=\"x\">") && quoted.contains("omitted"));
    }
}
