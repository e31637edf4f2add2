//! Sending one logical request: pacing, auth header, retries with backoff, error mapping, decoding.

use std::sync::atomic::Ordering;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use url::Url;

use crate::client::Client;
use crate::clock::ServerClock;
use crate::error::{self, Error, ErrorKind};
use crate::pacer;
use crate::quote::quote_body;
use crate::security;

/// One request to send.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) body: Option<Vec<u8>>,
    /// Safe to send twice (GET, PATCH, DELETE, upsert, duplicate search).
    pub(crate) idempotent: bool,
    pub(crate) operation: &'static str,
    pub(crate) context: Vec<(&'static str, String)>,
}

impl Call {
    pub(crate) fn new(method: Method, url: Url, operation: &'static str) -> Self {
        let idempotent = method != Method::POST;
        Call {
            method,
            url,
            body: None,
            idempotent,
            operation,
            context: Vec::new(),
        }
    }

    pub(crate) fn json<B: serde::Serialize + ?Sized>(mut self, body: &B) -> Result<Self, Error> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::config(format!("could not serialise the request body: {e}"))
                .with_operation(self.operation)
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    pub(crate) fn idempotent(mut self, idempotent: bool) -> Self {
        self.idempotent = idempotent;
        self
    }

    pub(crate) fn context(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.context.push((key, value.into()));
        self
    }

    fn decorate(&self, mut err: Error) -> Error {
        err = err.with_operation(self.operation);
        for (k, v) in &self.context {
            err = err.with_context(k, v.clone());
        }
        err
    }
}

/// The retries made so far for one call: all of them, and those made after a 500 (limited apart,
/// see [`RetryPolicy::max_internal_error_retries`](crate::RetryPolicy::max_internal_error_retries)).
#[derive(Debug, Default)]
struct Attempts {
    all: u32,
    after_internal_error: u32,
}

impl Client {
    /// Send `call`, retrying per policy; the raw body of the 2xx answer.
    pub(crate) async fn send_raw(&self, call: &Call) -> Result<Vec<u8>, Error> {
        self.send_bytes(call).await.map(Into::into)
    }

    /// [`send_raw`](Self::send_raw) without copying the body out of the response buffer.
    async fn send_bytes(
        &self,
        call: &Call,
    ) -> Result<impl AsRef<[u8]> + Into<Vec<u8>> + use<>, Error> {
        let inner = &self.inner;
        if let Some(host) = call.url.host_str() {
            security::check_allowed(host, inner.allowed_hosts.as_deref())
                .map_err(|e| call.decorate(e))?;
        }
        let mut attempts = Attempts::default();
        loop {
            let waited = inner.pacer.acquire().await;
            inner.counters.add_throttled(waited);
            inner.counters.requests.fetch_add(1, Ordering::Relaxed);
            let mut req = inner
                .http
                .request(call.method.clone(), call.url.clone())
                .header(AUTHORIZATION, self.bearer())
                .header(ACCEPT, "application/json");
            if let Some(body) = &call.body {
                req = req
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            tracing::debug!(method = %call.method, url = %call.url, attempt = attempts.all, "twenty request");
            let sent = chrono::Utc::now();
            let (err, safe_to_resend) = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    if let Some(clock) =
                        ServerClock::from_headers(&headers, sent, chrono::Utc::now())
                    {
                        self.observe_server_clock(clock);
                    }
                    match resp.bytes().await {
                        Err(e) => (call.decorate(error::from_transport(e)), false),
                        Ok(body) => {
                            if status.is_success() {
                                inner.pacer.succeeded();
                                return Ok(body);
                            }
                            let err = error::from_response(status, &headers, &body);
                            if let ErrorKind::RateLimited { retry_after } = err.kind() {
                                inner.counters.rate_limited.fetch_add(1, Ordering::Relaxed);
                                // Pause everyone: the server's own hint, else until its bucket
                                // has a token again.
                                inner
                                    .pacer
                                    .rate_limited(*retry_after, pacer::learn_from_body(&body));
                            } else {
                                inner.pacer.succeeded();
                            }
                            // The throttler rejects before running the request, so a 429 is safe to resend.
                            let safe = matches!(err.kind(), ErrorKind::RateLimited { .. });
                            (call.decorate(err), safe)
                        }
                    }
                }
                Err(e) => {
                    // A connection that was never established carried no request.
                    let never_sent = e.is_connect();
                    (call.decorate(error::from_transport(e)), never_sent)
                }
            };
            match self
                .retry_or_fail(call, &mut attempts, err, safe_to_resend)
                .await
            {
                Ok(()) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Decide whether to retry; sleeps the backoff and returns `Ok(())` to retry, or the error.
    async fn retry_or_fail(
        &self,
        call: &Call,
        attempts: &mut Attempts,
        err: Error,
        safe_to_resend: bool,
    ) -> Result<(), Error> {
        let policy = &self.inner.retry;
        let internal = matches!(err.kind(), ErrorKind::Server { status: 500 });
        if !err.is_temporary()
            || !(call.idempotent || safe_to_resend)
            || attempts.all >= policy.max_retries
            || (internal && attempts.after_internal_error >= policy.max_internal_error_retries)
        {
            return Err(err);
        }
        attempts.all += 1;
        attempts.after_internal_error += u32::from(internal);
        let attempt = attempts.all;
        self.inner.counters.retries.fetch_add(1, Ordering::Relaxed);
        let rate_limited = matches!(err.kind(), ErrorKind::RateLimited { .. });
        // For 429s the pacer already holds requests until the server's window allows them again;
        // without any hint, fall back to exponential backoff.
        let sleep = if rate_limited && self.inner.pacer.is_blocked() {
            Duration::ZERO
        } else {
            policy.backoff(attempt)
        };
        tracing::warn!(operation = call.operation, attempt, backoff_ms = sleep.as_millis() as u64, error = %err, "retrying Twenty request");
        if !sleep.is_zero() {
            tokio::time::sleep(sleep).await;
            self.inner.counters.add_throttled(sleep);
        }
        Ok(())
    }

    /// Send and decode the 2xx JSON body into `T`, naming the JSON path on failure.
    ///
    /// A 2xx body cut off before its end (a proxy or connection that dropped mid-body) is a
    /// temporary decode error: idempotent calls are sent again within the retry policy; other
    /// calls fail with it, since the write may have happened.
    pub(crate) async fn send_json<T: DeserializeOwned>(&self, call: &Call) -> Result<T, Error> {
        self.send_decoded(call, decode).await
    }

    /// Like [`send_json`](Self::send_json) with the body decoded by `decode_body`.
    pub(crate) async fn send_decoded<T>(
        &self,
        call: &Call,
        decode_body: impl Fn(&[u8]) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut attempts = Attempts::default();
        loop {
            let body = self.send_bytes(call).await?;
            match decode_body(body.as_ref()) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let e = call.decorate(e);
                    self.retry_or_fail(call, &mut attempts, e, false).await?;
                }
            }
        }
    }
}

/// Decode JSON; failures name the JSON path.
///
/// The body is decoded directly first (path tracking costs about a third of the decoding
/// time of a page); only a body that fails is decoded again with `serde_path_to_error`, which
/// fails at the same place and says where (and, as before, ignores trailing bytes after the
/// value). The error quotes the body's start with secret values blanked ([`quote_body`]).
pub(crate) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    if let Ok(v) = serde_json::from_slice::<T>(body) {
        return Ok(v);
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let truncated = inner.classify() == serde_json::error::Category::Eof;
            Err(Error::new(
                ErrorKind::Decode { path: path.clone() },
                format!(
                    "unexpected JSON at `{path}`: {inner} (body starts with: {})",
                    quote_body(body, 200)
                ),
            )
            .set_temporary(truncated)
            .with_source(inner))
        }
    }
}
