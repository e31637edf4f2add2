//! Host safety: https outside loopback, no userinfo, optional host allowlist, no cross-host redirects.

use std::net::IpAddr;

use url::Url;

use crate::error::Error;

/// Whether `url` points at the local machine (127.0.0.0/8, ::1 or `localhost`).
pub(crate) fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    }
}

/// Check a base URL before the client is built; no request is ever made to a URL that fails here.
pub(crate) fn check_base_url(url: &Url, allowed_hosts: Option<&[String]>) -> Result<(), Error> {
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::config(
            "the base URL must not contain user info (user:password@); pass the API key separately",
        ));
    }
    let host = url
        .host_str()
        .ok_or_else(|| Error::config("the base URL has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(url) => {}
        "http" => {
            return Err(Error::config(format!(
                "refusing plain http to non-loopback host `{host}`: use https (http is only allowed for 127.0.0.1/::1/localhost)"
            )));
        }
        other => {
            return Err(Error::config(format!(
                "unsupported URL scheme `{other}`: use https"
            )));
        }
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::config(
            "the base URL must be the server root (e.g. https://api.twenty.com/) without query or fragment",
        ));
    }
    check_allowed(host, allowed_hosts)
}

/// Enforce the allowlist (case-insensitive, exact host match).
pub(crate) fn check_allowed(host: &str, allowed_hosts: Option<&[String]>) -> Result<(), Error> {
    if let Some(list) = allowed_hosts {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if !list.iter().any(|h| h == &host) {
            return Err(
                Error::config(format!("host `{host}` is not in the allowed host list"))
                    .with_context("host", host),
            );
        }
    }
    Ok(())
}

/// A redirect policy that follows only redirects to the same scheme, host and port (at most 5).
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .map(|first| {
                first.scheme() == attempt.url().scheme()
                    && first.host_str() == attempt.url().host_str()
                    && first.port_or_known_default() == attempt.url().port_or_known_default()
            })
            .unwrap_or(false);
        if !same_origin {
            attempt.error("redirect to another host or scheme refused")
        } else if attempt.previous().len() > 5 {
            attempt.error("too many redirects")
        } else {
            attempt.follow()
        }
    })
}
