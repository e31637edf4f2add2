//! Fuzzes webhook payload parsing and signature verification with arbitrary bodies and headers.
//!
//! - `WebhookEvent::parse` and `WebhookVerifier::verify` never panic, whatever the body and the
//!   timestamp and signature headers hold;
//! - a body signed with the right secret and a fresh timestamp is never rejected for its
//!   signature (it is accepted, or refused only as `BadPayload` when it is not an event);
//! - the same body with one byte changed, or signed with another secret, is always refused.
#![no_main]

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use twenty_client::webhook::{WebhookError, WebhookEvent, WebhookVerifier};

const SECRET: &str = "fuzz-webhook-secret";

fn sign(secret: &str, ts: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(ts.as_bytes());
    mac.update(b":");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

fuzz_target!(|data: &[u8]| {
    let _ = WebhookEvent::parse(data);
    let verifier = WebhookVerifier::new(SecretString::from(SECRET));
    let now: DateTime<Utc> =
        DateTime::from_timestamp_millis(1_795_379_206_000).expect("valid time");

    // Arbitrary headers: split the input into timestamp, signature and body.
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let (ts, sig, body) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let _ = verifier.verify(ts, sig, body.as_bytes(), now);
    let _ = verifier.verify_signature(ts, sig, body.as_bytes());

    // A correctly signed, fresh delivery of the raw bytes.
    let ts = "1795379205180";
    let good = sign(SECRET, ts, data);
    match verifier.verify(ts, &good, data, now) {
        Ok(event) => {
            // A verified event renders without panicking.
            let _ = format!("{event:?}");
        }
        Err(WebhookError::BadPayload(_)) => {}
        Err(e) => panic!("a correctly signed body was refused: {e}"),
    }
    assert!(verifier
        .verify_signature(ts, &good.to_uppercase(), data)
        .is_ok());
    // Another secret, or one altered byte: refused.
    let forged = sign("not-the-secret", ts, data);
    assert!(verifier.verify(ts, &forged, data, now).is_err());
    if let Some((&first, rest)) = data.split_first() {
        let mut altered = vec![first ^ 0x01];
        altered.extend_from_slice(rest);
        assert!(matches!(
            verifier.verify(ts, &good, &altered, now),
            Err(WebhookError::SignatureMismatch)
        ));
    }
    // A stale timestamp is refused before the signature is even looked at.
    let old = "1695379205180";
    let old_sig = sign(SECRET, old, data);
    assert!(matches!(
        verifier.verify(old, &old_sig, data, now),
        Err(WebhookError::Stale { .. })
    ));
});
