//! Webhook subscriptions (`/rest/metadata/webhooks`, legacy `/rest/webhooks`) and signed,
//! asynchronous deliveries (5 s timeout, no retry).

use std::time::Duration;

use hmac::{Hmac, Mac};
use rand::RngCore;
use serde_json::{Map, Value, json};
use sha2::Sha256;
use tokio::sync::mpsc;

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use http::{HeaderValue, Method};

use crate::config::ServerFlavor;
use crate::db::Event;
use crate::error::{ApiError, json_response};
use crate::routes::read_json;
use crate::schema::APPLICATION_ID;
use crate::schema::WORKSPACE_ID;
use crate::server::Shared;
use crate::store::fmt_ms;
use crate::store::parse_id;

/// Hex HMAC-SHA256 of `"<timestamp>:" + body` with the webhook secret, as Twenty signs deliveries
/// (`X-Twenty-Webhook-Signature`).
///
/// A receiver recomputes the signature from the `X-Twenty-Webhook-Timestamp` header and the raw
/// body, and compares it with `X-Twenty-Webhook-Signature`:
///
/// ```
/// use twenty_sim::sign_webhook;
///
/// let body = br#"{"eventName":"person.created"}"#;
/// let sig = sign_webhook("fake-webhook-secret", "1795379205180", body);
/// assert_eq!(sig.len(), 64); // hex of an HMAC-SHA256
/// assert_eq!(sig, sign_webhook("fake-webhook-secret", "1795379205180", body));
/// assert_ne!(sig, sign_webhook("fake-webhook-secret", "1795379205181", body), "the timestamp is signed too");
/// assert_ne!(sig, sign_webhook("other-secret", "1795379205180", body));
/// ```
pub fn sign_webhook(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether a subscription's operations cover `object.action`.
pub(crate) fn operation_matches(operations: &[String], object: &str, action: &str) -> bool {
    operations.iter().any(|op| {
        let (o, a) = op.split_once('.').unwrap_or((op.as_str(), ""));
        (o == "*" || o == object) && (a == "*" || a == action)
    })
}

/// One delivery to make.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub target_url: String,
    pub secret: Option<String>,
    pub body: String,
}

/// Build the deliveries for events against the current subscriptions.
pub(crate) fn deliveries(
    webhooks: &[Map<String, Value>],
    events: &[Event],
    now_ms: i64,
) -> Vec<Delivery> {
    let mut out = Vec::new();
    for ev in events {
        for wh in webhooks {
            let ops: Vec<String> = wh
                .get("operations")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            if !operation_matches(&ops, &ev.singular, ev.action) {
                continue;
            }
            let target = wh
                .get("targetUrl")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let mut payload = Map::new();
            payload.insert("targetUrl".into(), json!(target));
            payload.insert(
                "eventName".into(),
                json!(format!("{}.{}", ev.singular, ev.action)),
            );
            payload.insert(
                "objectMetadata".into(),
                json!({"id": ev.object_id, "nameSingular": ev.singular}),
            );
            payload.insert("workspaceId".into(), json!(WORKSPACE_ID));
            payload.insert(
                "webhookId".into(),
                wh.get("id").cloned().unwrap_or(Value::Null),
            );
            payload.insert("eventDate".into(), json!(fmt_ms(now_ms)));
            payload.insert("record".into(), ev.record.clone());
            if let Some(f) = &ev.updated_fields {
                payload.insert("updatedFields".into(), json!(f));
            }
            out.push(Delivery {
                target_url: target.to_string(),
                secret: wh
                    .get("secret")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
                body: Value::Object(payload).to_string(),
            });
        }
    }
    out
}

/// Run the delivery loop until the channel closes. Deliveries are sequential (in event order).
///
/// `time`: the server's time, for the signed timestamp.
pub(crate) async fn run_dispatcher(
    mut rx: mpsc::UnboundedReceiver<Vec<Delivery>>,
    time: crate::store::ServerTime,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build webhook HTTP client; deliveries disabled");
            return;
        }
    };
    while let Some(batch) = rx.recv().await {
        for d in batch {
            let ts = time.now_ms().to_string();
            let mut nonce = [0u8; 16];
            rand::rng().fill_bytes(&mut nonce);
            let mut req = client
                .post(&d.target_url)
                .header("Content-Type", "application/json")
                .header("X-Twenty-Webhook-Timestamp", &ts)
                .header("X-Twenty-Webhook-Nonce", hex::encode(nonce));
            if let Some(secret) = &d.secret {
                req = req.header(
                    "X-Twenty-Webhook-Signature",
                    sign_webhook(secret, &ts, d.body.as_bytes()),
                );
            }
            match req.body(d.body).send().await {
                Ok(r) => {
                    tracing::debug!(url = %d.target_url, status = %r.status(), "webhook delivered")
                }
                Err(e) => {
                    tracing::warn!(url = %d.target_url, error = %e, "webhook delivery failed (not retried)")
                }
            }
        }
    }
}

fn deprecation(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert("Deprecation", HeaderValue::from_static("@1786320000"));
    h.insert(
        "Link",
        HeaderValue::from_static("</rest/metadata/webhooks>; rel=\"successor-version\""),
    );
    r
}

/// `/rest/webhooks` (deprecated alias; the only path in legacy mode).
pub(crate) async fn legacy_webhooks(shared: &Arc<Shared>, req: Request, segs: &[&str]) -> Response {
    let flavor = shared.flavor;
    let r = routes(shared, req, segs)
        .await
        .unwrap_or_else(|e| e.render(flavor));
    if flavor == ServerFlavor::Legacy {
        r
    } else {
        deprecation(r)
    }
}

pub(crate) async fn routes(
    shared: &Arc<Shared>,
    req: Request,
    segs: &[&str],
) -> Result<Response, ApiError> {
    match (req.method().clone(), segs) {
        (Method::GET, []) => {
            let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
            Ok(json_response(
                200,
                Value::Array(db.webhooks.iter().cloned().map(Value::Object).collect()).to_string(),
            ))
        }
        (Method::GET, [id]) => {
            let db = shared.db.read().unwrap_or_else(|e| e.into_inner());
            db.webhooks
                .iter()
                .find(|w| w["id"].as_str() == Some(id))
                .map(|w| json_response(200, Value::Object(w.clone()).to_string()))
                .ok_or_else(|| ApiError::with_status(404, "Webhook not found"))
        }
        (Method::POST, []) => {
            let body = match read_json(req).await {
                Ok(b) => b,
                Err(r) => return Ok(r),
            };
            let target = body
                .get("targetUrl")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let parsed = url::Url::parse(&target)
                .map_err(|e| ApiError::bad(format!("Invalid targetUrl '{target}': {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(ApiError::bad(format!(
                    "Invalid targetUrl '{target}': the scheme must be http or https"
                )));
            }
            let operations = match body.get("operations") {
                Some(Value::Array(ops))
                    if !ops.is_empty()
                        && ops
                            .iter()
                            .all(|o| o.as_str().is_some_and(|s| s.contains('.'))) =>
                {
                    Value::Array(ops.clone())
                }
                _ => {
                    return Err(ApiError::bad(
                        "'operations' must be a non-empty array like [\"person.created\", \"*.updated\"]",
                    ));
                }
            };
            let id = match body.get("id").and_then(Value::as_str) {
                Some(i) if parse_id(i).is_some() => i.to_string(),
                _ => uuid::Uuid::new_v4().to_string(),
            };
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let now = fmt_ms(db.clock.tick());
            let secret = match body.get("secret").and_then(Value::as_str) {
                Some(s) => s.to_string(),
                None => {
                    let mut b = [0u8; 32];
                    rand::RngCore::fill_bytes(&mut rand::rng(), &mut b);
                    hex::encode(b)
                }
            };
            let mut w = Map::new();
            w.insert("id".into(), json!(id));
            w.insert("targetUrl".into(), json!(target));
            w.insert("operations".into(), operations);
            w.insert(
                "description".into(),
                body.get("description").cloned().unwrap_or(Value::Null),
            );
            w.insert("secret".into(), json!(secret));
            w.insert("workspaceId".into(), json!(WORKSPACE_ID));
            w.insert("applicationId".into(), json!(APPLICATION_ID));
            w.insert("createdAt".into(), json!(now));
            w.insert("updatedAt".into(), json!(now));
            w.insert("deletedAt".into(), Value::Null);
            db.webhooks.push(w.clone());
            Ok(json_response(201, Value::Object(w).to_string()))
        }
        (Method::DELETE, [id]) => {
            let mut db = shared.db.write().unwrap_or_else(|e| e.into_inner());
            let before = db.webhooks.len();
            db.webhooks.retain(|w| w["id"].as_str() != Some(id));
            if db.webhooks.len() == before {
                return Err(ApiError::with_status(404, "Webhook not found"));
            }
            let mut r = json_response(200, "true".into());
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            Ok(r)
        }
        _ => Err(ApiError::bad(
            "Unsupported webhook request: use GET/POST /rest/metadata/webhooks or GET/DELETE /rest/metadata/webhooks/{id}",
        )),
    }
}
