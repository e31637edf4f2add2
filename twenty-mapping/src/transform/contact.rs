//! `email` normalisation/validation and `phone` normalisation to E.164 split into Twenty's PHONES.
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("email", &json!({}), json!(" Ada.L@Example.COM ")).unwrap(),
//!            json!("Ada.L@example.com"));
//! assert_eq!(apply_builtin("email", &json!({"lowercase_local": true}), json!("Ada.L@Example.COM")).unwrap(),
//!            json!("ada.l@example.com"));
//! assert!(apply_builtin("email", &json!({}), json!("ada.example.com")).is_err());
//! assert_eq!(apply_builtin("phone", &json!({"default_region": "FR"}), json!("06 12 34 56 78")).unwrap(),
//!            json!({"primaryPhoneNumber": "612345678", "primaryPhoneCountryCode": "FR",
//!                   "primaryPhoneCallingCode": "+33"}));
//! assert_eq!(apply_builtin("phone", &json!({"output": "e164"}), json!("+44 20 7946 0958")).unwrap(),
//!            json!("+442079460958"));
//! // A number written with its country code is read by that country's rules, not the default's.
//! let us = json!({"default_region": "US", "output": "e164"});
//! assert_eq!(apply_builtin("phone", &us, json!("+49 1512 3456789")).unwrap(), json!("+4915123456789"));
//! assert_eq!(apply_builtin("phone", &us, json!("011 39 0331 123456")).unwrap(), json!("+390331123456"));
//! ```

use std::str::FromStr;

use phonenumber::PhoneNumber;
use phonenumber::country::{Id, Source};
use phonenumber::metadata::DATABASE;
use serde_json::Value;

use super::fixed_object::FixedObject;
use super::phone_fast::{DefaultRegion, PhoneParts, fast_parse};

use super::{
    Inverse, TransformArgs, TransformRegistry, TransformStep, builtin, json_type_name,
    small_map_get, text_ref,
};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "email", &["lowercase_local"], |args| {
        Ok(Box::new(Email {
            lowercase_local: args.bool_or("lowercase_local", false)?,
        }))
    });
    builtin(r, "phone", &["default_region", "output"], build_phone);
}

struct Email {
    lowercase_local: bool,
}

/// Validates and normalises an email address; the error says what is wrong.
pub(crate) fn normalise_email(raw: &str, lowercase_local: bool) -> Result<String, TransformError> {
    if let Some(out) = normalise_plain_ascii_email(raw, lowercase_local) {
        return Ok(out);
    }
    let s = raw.trim();
    if s.is_empty() {
        return Err(TransformError::new("email is empty"));
    }
    if s.len() > 254 {
        return Err(TransformError::new("email is longer than 254 characters"));
    }
    let (local, domain) = s
        .rsplit_once('@')
        .ok_or_else(|| TransformError::new("email has no '@'"))?;
    if local.is_empty() {
        return Err(TransformError::new("email has nothing before '@'"));
    }
    if local.len() > 64 {
        return Err(TransformError::new(
            "email local part is longer than 64 characters",
        ));
    }
    if local.contains('@') {
        return Err(TransformError::new("email has more than one '@'"));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(TransformError::new("email local part has a misplaced '.'"));
    }
    if let Some(c) = local.chars().find(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '(' | ')' | ',' | ':' | ';' | '<' | '>' | '[' | ']' | '\\' | '"'
            )
    }) {
        return Err(TransformError::new(format!(
            "email local part contains {c:?}"
        )));
    }
    if domain.is_empty() {
        return Err(TransformError::new("email has no domain after '@'"));
    }
    if !domain.contains('.') {
        return Err(TransformError::new("email domain has no '.'"));
    }
    for label in domain.split('.') {
        if label.is_empty() {
            return Err(TransformError::new("email domain has an empty label"));
        }
        if label.len() > 63 {
            return Err(TransformError::new(
                "email domain label is longer than 63 characters",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(TransformError::new(
                "email domain label starts or ends with '-'",
            ));
        }
        if let Some(c) = label.chars().find(|c| !(c.is_alphanumeric() || *c == '-')) {
            return Err(TransformError::new(format!("email domain contains {c:?}")));
        }
    }
    let needs_change = s.len() != raw.len()
        || domain.chars().any(char::is_uppercase)
        || (lowercase_local && local.chars().any(char::is_uppercase));
    if !needs_change {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    push_lowered(&mut out, local, lowercase_local);
    out.push('@');
    push_lowered(&mut out, domain, true);
    Ok(out)
}

/// [`normalise_email`] of a valid address written in plain ASCII (no whitespace around it, no
/// control or special character), checked in one pass over its bytes; `None` for any other text,
/// which then goes through the full checks and their messages.
fn normalise_plain_ascii_email(raw: &str, lowercase_local: bool) -> Option<String> {
    let bytes = raw.as_bytes();
    let at = bytes.iter().rposition(|&b| b == b'@')?;
    let (local, domain) = (&bytes[..at], &bytes[at + 1..]);
    if local.is_empty() || local.len() > 64 || bytes.len() > 254 {
        return None;
    }
    // The local part: printable ASCII except the specials, no '@', dots only between
    // characters (so no space or control character, and nothing to trim at the start).
    let mut previous = b'.';
    for &b in local {
        let plain = b.is_ascii_graphic()
            && !matches!(
                b,
                b'@' | b'(' | b')' | b',' | b':' | b';' | b'<' | b'>' | b'[' | b']' | b'\\' | b'"'
            );
        if !plain || (b == b'.' && previous == b'.') {
            return None;
        }
        previous = b;
    }
    if previous == b'.' {
        return None;
    }
    // The domain: labels of 1 to 63 letters, digits and inner dashes, at least two of them
    // (so nothing to trim at the end either).
    let mut labels = 0;
    for label in domain.split(|&b| b == b'.') {
        let fine = !label.is_empty()
            && label.len() <= 63
            && label[0] != b'-'
            && label[label.len() - 1] != b'-'
            && label
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-');
        if !fine {
            return None;
        }
        labels += 1;
    }
    if labels < 2 {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    out.push_str(raw);
    if lowercase_local {
        out.make_ascii_lowercase();
    } else {
        out[at + 1..].make_ascii_lowercase();
    }
    Some(out)
}

/// `+` and the calling code, e.g. `+33` (sized once: `format!` would grow it).
fn plus_code(code: u16) -> String {
    let mut out = String::with_capacity(6);
    out.push('+');
    let mut divisor = 1;
    while code / divisor >= 10 {
        divisor *= 10;
    }
    while divisor > 0 {
        out.push(char::from(b'0' + (code / divisor % 10) as u8));
        divisor /= 10;
    }
    out
}

/// Appends `text`, lowercased when `lower` (in place for ASCII text, the usual case).
fn push_lowered(out: &mut String, text: &str, lower: bool) {
    if !lower {
        out.push_str(text);
    } else if text.is_ascii() {
        let start = out.len();
        out.push_str(text);
        out[start..].make_ascii_lowercase();
    } else {
        out.push_str(&text.to_lowercase());
    }
}

impl TransformStep for Email {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        if let Value::String(s) = &input {
            let out = normalise_email(s, self.lowercase_local)?;
            if out == *s {
                return Ok(input);
            }
            return Ok(Value::String(out));
        }
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        match input {
            Value::String(s) => Ok(Value::String(normalise_email(s, self.lowercase_local)?)),
            other => Err(TransformError::new(format!(
                "email expects text, got {}",
                json_type_name(other)
            ))),
        }
    }
    fn inverse(&self) -> Inverse {
        Inverse::Identity
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PhoneOutput {
    Phones,
    E164,
}

struct Phone {
    default_region: Option<Id>,
    /// The default region's compiled rules for the fast path (`None` without a default region).
    fast_default: Option<DefaultRegion>,
    output: PhoneOutput,
    /// The keys of a PHONES value.
    phones: FixedObject<3>,
}

fn build_phone(args: &TransformArgs<'_>) -> Result<Box<dyn TransformStep>, String> {
    let default_region = match args.str("default_region")? {
        Some(r) => Some(Id::from_str(&r.to_ascii_uppercase()).map_err(|_| {
            format!(
                "`default_region` `{r}` is not a known ISO 3166 region code (e.g. \"US\", \"FR\")"
            )
        })?),
        None => None,
    };
    let output = match args.str("output")?.unwrap_or("phones") {
        "phones" => PhoneOutput::Phones,
        "e164" => PhoneOutput::E164,
        other => {
            return Err(format!(
                "`output` must be \"phones\" or \"e164\", got \"{other}\""
            ));
        }
    };
    Ok(Box::new(Phone {
        default_region,
        fast_default: default_region.and_then(DefaultRegion::of),
        output,
        phones: FixedObject::new([
            "primaryPhoneNumber",
            "primaryPhoneCountryCode",
            "primaryPhoneCallingCode",
        ]),
    }))
}

impl Phone {
    fn parse(&self, s: &str) -> Result<PhoneParts, TransformError> {
        if self.default_region.is_none() || self.fast_default.is_some() {
            if let Some(parts) = fast_parse(self.fast_default, s) {
                return Ok(parts);
            }
        }
        let number = parse_number(self.default_region, s)?;
        if !number.is_valid() {
            return Err(TransformError::new(
                "phone number is not valid for its country (wrong length or prefix)",
            ));
        }
        let region = number
            .country()
            .id()
            .map(|id| id.as_ref().to_owned())
            .unwrap_or_default();
        Ok(PhoneParts {
            calling_code: number.code().value(),
            national: number.national().to_string(),
            region,
        })
    }
}

/// Parses a phone number with `phonenumber`, reading a number written with its country calling
/// code (`+49 1512 3456789`, or `00 49 ...` after the default region's international prefix) by
/// the rules of that calling code rather than the default region's.
///
/// `phonenumber::parse` strips national prefixes with the default region's rules whenever one is
/// given, even from a number that names another country: with default `US`, `+49 1512 3456789`
/// loses the `1` of its German mobile prefix. Such a number is therefore parsed again as if no
/// default region were given, which picks the rules of the region its digits point to.
pub(super) fn parse_number(default: Option<Id>, text: &str) -> Result<PhoneNumber, TransformError> {
    let number = phonenumber::parse(default, text).map_err(|e| cannot_parse(default, text, e))?;
    let Some(default) = default else {
        return Ok(number);
    };
    match number.code().source() {
        Source::Plus | Source::Idd => reparse_by_own_rules(default, text, number.code().value()),
        Source::Number | Source::Default => Ok(number),
    }
}

/// The error for text `phonenumber` cannot parse, with a hint when the missing default region
/// is the likely cause.
fn cannot_parse(default: Option<Id>, text: &str, e: phonenumber::ParseError) -> TransformError {
    let hint = if default.is_none() && !text.trim_start().starts_with('+') {
        " (no default_region is configured, so the number needs a leading +country code)"
    } else {
        ""
    };
    TransformError::new(format!("phone number cannot be parsed: {e}{hint}"))
}

/// `text`, which names calling code `code` explicitly, parsed without a default region: as
/// written when that reads the same calling code, otherwise rewritten as `+` followed by what
/// comes after the default region's international prefix.
fn reparse_by_own_rules(default: Id, text: &str, code: u16) -> Result<PhoneNumber, TransformError> {
    let with_code = |candidate: &str| {
        phonenumber::parse(None, candidate)
            .ok()
            .filter(|n| n.code().value() == code)
    };
    if let Some(number) = with_code(text) {
        return Ok(number);
    }
    let idd = DATABASE
        .by_id(default.as_ref())
        .and_then(|meta| meta.international_prefix());
    let find_idd = |digits: &str| {
        idd.and_then(|re| re.find(digits))
            .map(|m| (m.start(), m.end()))
    };
    with_code(&from_calling_code(text, find_idd)).ok_or_else(|| {
        TransformError::new(format!(
            "phone number names country code +{code} in a form that cannot be read by that \
             country's rules; write it as +{code} followed by the national number"
        ))
    })
}

/// `text` rewritten to start with `+` and its calling code: its leading plus signs and, when its
/// digits then start with the international prefix that `find_idd` finds (start and end of its
/// leftmost match in a digit string), that prefix are removed.
fn from_calling_code(text: &str, find_idd: impl Fn(&str) -> Option<(usize, usize)>) -> String {
    let start = text
        .find(|c: char| is_plus(c) || c.is_ascii_digit())
        .unwrap_or(text.len());
    let rest = text[start..].trim_start_matches(is_plus);
    let skip = international_prefix_end(rest, find_idd).unwrap_or(0);
    format!("+{}", &rest[skip..])
}

fn is_plus(c: char) -> bool {
    c == '+' || c == '\u{FF0B}'
}

/// The byte offset in `text` right after the international prefix its leading digits start with
/// (punctuation between the digits allowed), as `phonenumber` recognises one: it matches at the
/// first digit and the next digit is not `0`. `None` when there is none.
fn international_prefix_end(
    text: &str,
    find_idd: impl Fn(&str) -> Option<(usize, usize)>,
) -> Option<usize> {
    let mut digits = String::new();
    let mut digit_ends = Vec::new();
    for (at, c) in text.char_indices() {
        if c.is_ascii_digit() {
            digits.push(c);
            digit_ends.push(at + 1);
        } else if c.is_alphanumeric() {
            break;
        }
    }
    let (start, end) = find_idd(&digits)?;
    if start != 0 || end == 0 || digits[end..].starts_with('0') {
        return None;
    }
    Some(digit_ends[end - 1])
}

impl TransformStep for Phone {
    fn output_kind(&self) -> ValueKind {
        match self.output {
            PhoneOutput::Phones => ValueKind::Phones,
            PhoneOutput::E164 => ValueKind::Text,
        }
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let s = text_ref(input, "phone")?;
        let parts = self.parse(&s)?;
        Ok(match self.output {
            PhoneOutput::E164 => {
                Value::String(format!("+{}{}", parts.calling_code, parts.national))
            }
            PhoneOutput::Phones => self.phones.build([
                Value::String(parts.national),
                Value::String(parts.region),
                Value::String(plus_code(parts.calling_code)),
            ]),
        })
    }
    fn inverse(&self) -> Inverse {
        match self.output {
            PhoneOutput::E164 => Inverse::Identity,
            PhoneOutput::Phones => Inverse::Step(Box::new(JoinPhone)),
        }
    }
}

/// Inverse of `phone`: PHONES `{primaryPhoneNumber, primaryPhoneCallingCode}` → E.164 text.
struct JoinPhone;

impl TransformStep for JoinPhone {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let Value::Object(m) = input else {
            return Err(TransformError::new(format!(
                "expected a PHONES object, got {}",
                json_type_name(input)
            )));
        };
        let number = small_map_get(m, "primaryPhoneNumber")
            .and_then(Value::as_str)
            .unwrap_or("");
        if number.is_empty() {
            return Ok(Value::Null);
        }
        if number.starts_with('+') {
            return Ok(Value::String(number.to_owned()));
        }
        let calling = small_map_get(m, "primaryPhoneCallingCode")
            .and_then(Value::as_str)
            .unwrap_or("");
        if calling.is_empty() {
            return Err(TransformError::new(
                "PHONES object has a number but no calling code",
            ));
        }
        let calling = calling.trim_start_matches('+');
        let mut e164 = String::with_capacity(1 + calling.len() + number.len());
        e164.push('+');
        e164.push_str(calling);
        e164.push_str(number);
        Ok(Value::String(e164))
    }
    fn inverse(&self) -> Inverse {
        Inverse::OneWay
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::{invert, step};
    use super::*;
    use serde_json::json;

    #[test]
    fn plus_code_writes_every_calling_code_like_format() {
        for code in [0u16, 1, 7, 33, 44, 352, 999, 1000, u16::MAX] {
            assert_eq!(super::plus_code(code), format!("+{code}"));
        }
    }

    /// The full checks of `normalise_email`, without the plain-ASCII fast path (the reference):
    /// a trailing thin space (Unicode whitespace, which the full checks trim) keeps the text off
    /// the fast path.
    fn full_checks(raw: &str, lowercase_local: bool) -> Result<String, String> {
        normalise_email(&format!("{raw}\u{2009}"), lowercase_local)
            .map_err(|e| e.reason)
            .map(|out| out.trim_end_matches('\u{2009}').to_owned())
    }

    #[test]
    fn plain_ascii_emails_take_the_fast_path_only_when_the_full_checks_accept_them() {
        // Every local part and domain from these pieces, with both settings.
        let locals = [
            "",
            "a",
            "Ada.L",
            ".a",
            "a.",
            "a..b",
            "a b",
            "a\tb",
            "a(b",
            "a\"b",
            "a\\b",
            "o'brien+x",
            "A_B-c",
            "é",
            "x@y",
            "\u{7f}",
            "~!#$%&*=?^`{|}",
            &"l".repeat(64),
            &"l".repeat(65),
        ];
        let domains = [
            "",
            "x",
            "Example.COM",
            "a.b.c",
            "-a.com",
            "a-.com",
            "a..com",
            ".com",
            "com.",
            "ex_ample.com",
            "exa mple.com",
            "xn--bcher-kva.de",
            "mail.Example.co.uk",
            "é.com",
            &format!("{}.com", "d".repeat(63)),
            &format!("{}.com", "d".repeat(64)),
            &format!("{}.com", "d.".repeat(100)),
        ];
        let mut fast = 0;
        for local in locals {
            for domain in domains {
                for text in [
                    format!("{local}@{domain}"),
                    local.to_owned(),
                    domain.to_owned(),
                ] {
                    for lower in [false, true] {
                        let got = normalise_plain_ascii_email(&text, lower);
                        if let Some(out) = &got {
                            fast += 1;
                            assert_eq!(Ok(out.clone()), full_checks(&text, lower), "{text:?}");
                        } else if full_checks(&text, lower).is_ok() {
                            // Every valid ASCII address takes the fast path.
                            assert!(!text.is_ascii(), "{text:?}");
                        }
                        assert_eq!(
                            normalise_email(&text, lower).map_err(|e| e.reason),
                            full_checks(&text, lower),
                            "{text:?}"
                        );
                    }
                }
            }
        }
        assert!(fast > 50, "{fast}");
    }

    #[test]
    fn email_rejects_with_specific_reasons() {
        for (bad, reason) in [
            ("", "empty"),
            ("no-at.example.com", "no '@'"),
            ("@example.com", "nothing before"),
            ("a@localhost", "no '.'"),
            ("a@exa mple.com", "domain contains"),
            ("a b@example.com", "local part contains"),
            ("a@b@example.com", "more than one"),
            ("a@-x.com", "'-'"),
            ("a..b@x.com", "misplaced"),
        ] {
            let err = normalise_email(bad, false).unwrap_err();
            assert!(err.reason.contains(reason), "{bad}: {}", err.reason);
        }
    }

    #[test]
    fn phone_uses_default_region_for_national_numbers() {
        let out = step("phone", json!({"default_region": "GB"}))
            .apply(json!("020 7946 0958"))
            .unwrap();
        assert_eq!(out["primaryPhoneCountryCode"], "GB");
        assert_eq!(out["primaryPhoneCallingCode"], "+44");
        assert_eq!(out["primaryPhoneNumber"], "2079460958");
    }

    #[test]
    fn phone_distinguishes_regions_sharing_a_calling_code() {
        let out = step("phone", json!({}))
            .apply(json!("+1 416 555 0123"))
            .unwrap();
        assert_eq!(out["primaryPhoneCountryCode"], "CA");
        let out = step("phone", json!({}))
            .apply(json!("+12025550123"))
            .unwrap();
        assert_eq!(out["primaryPhoneCountryCode"], "US");
    }

    #[test]
    fn phone_fast_path_agrees_with_the_full_parser() {
        let s = step("phone", json!({}));
        for n in [
            "+33612345678",
            "+4930123456",
            "+390612345678",
            "+81312345678",
        ] {
            let fast = s.apply(json!(n)).unwrap();
            let full = step("phone", json!({}))
                .apply(json!(format!("{} ", n)))
                .unwrap();
            assert_eq!(fast, full, "{n}");
        }
    }

    /// E.164 of numbers written with their country code, by hand from each country's numbering
    /// plan: `(input, E.164)`. Germany and France drop their national prefix `0` (written or
    /// not), Italy keeps the leading `0` of its landlines, the NANP has no `0` prefix.
    const GOLDEN_E164: [(&str, &str); 13] = [
        ("+49 1512 3456789", "+4915123456789"),
        ("+49 01512 3456789", "+4915123456789"),
        ("+49 (0)1512 3456789", "+4915123456789"),
        ("tel:+49-1512-3456789", "+4915123456789"),
        ("+49 30 1234567", "+49301234567"),
        ("+39 0331 123456", "+390331123456"),
        ("+39 06 1234 5678", "+390612345678"),
        ("+39 312 345 6789", "+393123456789"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+44 7400 123456", "+447400123456"),
        ("+33 6 12 34 56 78", "+33612345678"),
        ("+33 1 42 68 53 00", "+33142685300"),
        ("+1 202 555 0123", "+12025550123"),
    ];

    /// Every golden number with each default region, as written (the fast path for most) and
    /// with doubled spaces (which only the full parser reads).
    #[test]
    fn phone_with_a_country_code_is_read_by_that_countrys_rules_whatever_the_default() {
        let mut wrong = Vec::new();
        for default in [
            None,
            Some("US"),
            Some("FR"),
            Some("GB"),
            Some("DE"),
            Some("IT"),
        ] {
            let args = match default {
                Some(region) => json!({"default_region": region, "output": "e164"}),
                None => json!({"output": "e164"}),
            };
            let s = step("phone", args);
            for (input, e164) in GOLDEN_E164 {
                for text in [input.to_owned(), input.replace(' ', "  ")] {
                    let got = s.apply(json!(text)).map_err(|e| e.reason);
                    if got != Ok(json!(e164)) {
                        wrong.push(format!("{text:?} with default {default:?}: {got:?}"));
                    }
                }
            }
        }
        assert!(wrong.is_empty(), "{wrong:#?}");
    }

    /// `input` with `default_region` = `default` maps to `e164`.
    fn assert_e164(default: &str, input: &str, e164: &str) {
        let out = step(
            "phone",
            json!({"default_region": default, "output": "e164"}),
        )
        .apply(json!(input))
        .map_err(|e| e.reason);
        assert_eq!(out, Ok(json!(e164)), "{input:?} with default {default}");
    }

    #[test]
    fn phone_after_an_international_prefix_is_read_by_that_countrys_rules() {
        for (default, input, e164) in [
            ("US", "011 49 1512 3456789", "+4915123456789"),
            ("US", "011 39 0331 123456", "+390331123456"),
            ("FR", "00 39 0331 123456", "+390331123456"),
            ("GB", "00 49 1512 3456789", "+4915123456789"),
            ("DE", "00 44 20 7946 0958", "+442079460958"),
            ("FR", "+00 49 1512 3456789", "+4915123456789"),
            ("RU", "8 10 49 1512 3456789", "+4915123456789"),
        ] {
            assert_e164(default, input, e164);
        }
    }

    #[test]
    fn phone_national_numbers_still_use_the_default_region() {
        for (default, input, e164) in [
            ("DE", "01512 3456789", "+4915123456789"),
            ("IT", "0331 123456", "+390331123456"),
            ("GB", "020 7946 0958", "+442079460958"),
            ("FR", "06 12 34 56 78", "+33612345678"),
            ("US", "(202) 555-0123", "+12025550123"),
            ("US", "1 202 555 0123", "+12025550123"),
        ] {
            assert_e164(default, input, e164);
        }
    }

    #[test]
    fn phone_rejects_garbage_and_invalid_numbers() {
        let s = step("phone", json!({"default_region": "FR"}));
        assert!(s.apply(json!("not a phone")).is_err());
        assert!(s.apply(json!("+33 1")).is_err());
        let no_region = step("phone", json!({}))
            .apply(json!("0612345678"))
            .unwrap_err();
        assert!(
            no_region.reason.contains("default_region"),
            "{}",
            no_region.reason
        );
    }

    #[test]
    fn phone_inverse_rebuilds_e164() {
        let s = step("phone", json!({"default_region": "FR"}));
        let out = s.apply(json!("+33612345678")).unwrap();
        assert_eq!(invert(s.as_ref(), out), json!("+33612345678"));
    }

    #[test]
    fn unknown_default_region_is_a_build_error() {
        let map = json!({"default_region": "XX"})
            .as_object()
            .cloned()
            .unwrap();
        assert!(
            TransformRegistry::with_builtins()
                .build("phone", &map)
                .is_err()
        );
    }
}
