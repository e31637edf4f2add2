//! `url` and `domain` normalisation for LINKS fields (`linkedinLink.primaryLinkUrl`,
//! `domainName.primaryLinkUrl`).
//!
//! ```
//! use serde_json::json;
//! use twenty_mapping::apply_builtin;
//! assert_eq!(apply_builtin("url", &json!({}), json!(" WWW.Example.com/About ")).unwrap(),
//!            json!("https://www.example.com/About"));
//! assert_eq!(apply_builtin("domain", &json!({}), json!("http://www.Acme.io/contact?x=1")).unwrap(),
//!            json!("https://acme.io"));
//! assert_eq!(apply_builtin("domain", &json!({"with_scheme": false}), json!("ACME.io")).unwrap(),
//!            json!("acme.io"));
//! ```

use serde_json::Value;

use super::{Inverse, TransformRegistry, TransformStep, builtin, text_ref};
use crate::error::TransformError;
use crate::types::ValueKind;

pub(super) fn register(r: &mut TransformRegistry) {
    builtin(r, "url", &[], |_| Ok(Box::new(Url)));
    builtin(r, "domain", &["with_scheme", "keep_www"], |args| {
        Ok(Box::new(Domain {
            with_scheme: args.bool_or("with_scheme", true)?,
            keep_www: args.bool_or("keep_www", false)?,
        }))
    });
}

/// Splits `scheme://host[:port]/rest` (scheme optional); the host is validated.
fn split_url(s: &str) -> Result<(Option<&str>, &str, &str), TransformError> {
    // Every delimiter is ASCII, so byte searches find the same places as character searches
    // (UTF-8 continuation bytes are never ASCII) without setting up a string searcher.
    let (scheme, rest) = match s.as_bytes().windows(3).position(|w| w == b"://") {
        Some(i) => (Some(&s[..i]), &s[i + 3..]),
        None => (None, s),
    };
    if let Some(sc) = scheme {
        if sc.is_empty()
            || !sc
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        {
            return Err(TransformError::new(format!(
                "URL has an invalid scheme {sc:?}"
            )));
        }
    }
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_only = host
        .bytes()
        .position(|b| b == b':')
        .map_or(host, |i| &host[..i]);
    if host_only.is_empty() {
        return Err(TransformError::new("URL has no host"));
    }
    if let Some(c) = host_char_not_allowed(host_only) {
        return Err(TransformError::new(format!("URL host contains {c:?}")));
    }
    if !host_only.contains('.') && host_only != "localhost" {
        return Err(TransformError::new("URL host has no '.'"));
    }
    Ok((scheme, host, tail))
}

/// The first character of a host that is neither alphanumeric nor `.` or `-`.
fn host_char_not_allowed(host: &str) -> Option<char> {
    if host.is_ascii() {
        host.bytes()
            .find(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-')))
            .map(char::from)
    } else {
        host.chars()
            .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-')))
    }
}

struct Url;

/// Whether `s` contains whitespace (`char::is_whitespace`), checking ASCII text byte by byte.
fn has_whitespace(s: &str) -> bool {
    if s.is_ascii() {
        // The ASCII whitespace characters: tab to carriage return, and the space.
        s.bytes().any(|b| matches!(b, b'\t'..=b'\r' | b' '))
    } else {
        s.chars().any(char::is_whitespace)
    }
}

impl TransformStep for Url {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let raw = text_ref(input, "url")?;
        let s = raw.trim();
        if s.is_empty() {
            return Ok(Value::Null);
        }
        if has_whitespace(s) {
            return Err(TransformError::new("URL contains whitespace"));
        }
        let (scheme, host, tail) = split_url(s)?;
        let tail = if tail == "/" { "" } else { tail };
        let scheme = scheme.unwrap_or("https");
        let mut out = String::with_capacity(scheme.len() + 3 + host.len() + tail.len());
        out.push_str(scheme);
        out.make_ascii_lowercase();
        out.push_str("://");
        if host.is_ascii() {
            let start = out.len();
            out.push_str(host);
            out[start..].make_ascii_lowercase();
        } else {
            out.push_str(&host.to_lowercase());
        }
        out.push_str(tail);
        Ok(Value::String(out))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Identity
    }
}

struct Domain {
    with_scheme: bool,
    keep_www: bool,
}

impl TransformStep for Domain {
    fn output_kind(&self) -> ValueKind {
        ValueKind::Text
    }
    fn apply(&self, input: Value) -> Result<Value, TransformError> {
        self.apply_ref(&input)
    }
    fn apply_ref(&self, input: &Value) -> Result<Value, TransformError> {
        let raw = text_ref(input, "domain")?;
        let s = raw.trim();
        if s.is_empty() {
            return Ok(Value::Null);
        }
        let s = s.rsplit_once('@').map_or(s, |(_, d)| d); // an email address gives its domain
        let (_, host, _) = split_url(s)?;
        let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
        let host = host.split(':').next().unwrap_or(host).trim_end_matches('.');
        let mut host = host.to_lowercase();
        if !self.keep_www {
            if let Some(stripped) = host.strip_prefix("www.") {
                host = stripped.to_owned();
            }
        }
        let out = if self.with_scheme {
            format!("https://{host}")
        } else {
            host
        };
        Ok(Value::String(out))
    }
    fn inverse(&self) -> Inverse {
        Inverse::Identity
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_util::step;
    use serde_json::json;

    #[test]
    fn url_keeps_path_and_query_and_lowercases_scheme_and_host() {
        let s = step("url", json!({}));
        assert_eq!(
            s.apply(json!("HTTP://Example.COM/Path?q=A")).unwrap(),
            json!("http://example.com/Path?q=A")
        );
        assert_eq!(
            s.apply(json!("https://x.io/")).unwrap(),
            json!("https://x.io")
        );
        assert!(s.apply(json!("not a url")).is_err());
        assert!(s.apply(json!("https:///path")).is_err());
    }

    #[test]
    fn host_characters_are_checked_like_char_is_alphanumeric() {
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            for host in [format!("a{c}b"), format!("{c}"), format!("é{c}")] {
                assert_eq!(
                    super::host_char_not_allowed(&host),
                    host.chars()
                        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-'))),
                    "{c:?}"
                );
            }
        }
    }

    #[test]
    fn url_errors_and_parts_are_unchanged() {
        let s = step("url", json!({}));
        let cases = [
            ("ftp+x://Ex.com:21/a?b#c", Ok("ftp+x://ex.com:21/a?b#c")),
            ("user@Host.io:8080?x", Ok("https://host.io:8080?x")),
            ("https://Bücher.DE/É", Ok("https://bücher.de/É")),
            ("localhost/x", Ok("https://localhost/x")),
            ("h:t://x.io", Err("URL has an invalid scheme \"h:t\"")),
            ("://x.io", Err("URL has an invalid scheme \"\"")),
            ("é://x.io", Err("URL has an invalid scheme \"é\"")),
            ("https://:80/x", Err("URL has no host")),
            ("a@/x", Err("URL has no host")),
            ("ex_ample.com", Err("URL host contains '_'")),
            ("exé™.com", Err("URL host contains '™'")),
            ("intranet/x", Err("URL host has no '.'")),
        ];
        for (input, want) in cases {
            let got = s.apply(json!(input)).map_err(|e| e.reason);
            assert_eq!(
                got,
                want.map(|w| json!(w)).map_err(str::to_owned),
                "{input}"
            );
        }
    }

    #[test]
    fn whitespace_is_found_like_char_is_whitespace() {
        for c in (0..=0x3000u32).filter_map(char::from_u32) {
            for text in [format!("a{c}b"), format!("{c}"), format!("é{c}")] {
                assert_eq!(
                    super::has_whitespace(&text),
                    text.chars().any(char::is_whitespace),
                    "{c:?}"
                );
            }
        }
    }

    #[test]
    fn domain_accepts_email_addresses_and_ports() {
        let s = step("domain", json!({"with_scheme": false}));
        assert_eq!(
            s.apply(json!("ada@Acme.co.uk")).unwrap(),
            json!("acme.co.uk")
        );
        assert_eq!(
            s.apply(json!("https://acme.io:8443/x")).unwrap(),
            json!("acme.io")
        );
        assert!(s.apply(json!("acme")).is_err());
    }
}
