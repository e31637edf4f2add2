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

use super::{builtin, text_ref, Inverse, TransformRegistry, TransformStep};
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
    let (scheme, rest) = match s.find("://") {
        Some(i) => (Some(&s[..i]), &s[i + 3..]),
        None => (None, s),
    };
    if let Some(sc) = scheme {
        if sc.is_empty()
            || !sc
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        {
            return Err(TransformError::new(format!(
                "URL has an invalid scheme {sc:?}"
            )));
        }
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host_only = host.split(':').next().unwrap_or("");
    if host_only.is_empty() {
        return Err(TransformError::new("URL has no host"));
    }
    if let Some(c) = host_only
        .chars()
        .find(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-')))
    {
        return Err(TransformError::new(format!("URL host contains {c:?}")));
    }
    if !host_only.contains('.') && host_only != "localhost" {
        return Err(TransformError::new("URL host has no '.'"));
    }
    Ok((scheme, host, tail))
}

struct Url;

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
        if s.chars().any(char::is_whitespace) {
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
