//! Triggers: a polling loop and the webhook handler.
//!
//! A webhook delivery is verified with the client's
//! [`WebhookVerifier`](twenty_client::webhook::WebhookVerifier), de-duplicated on
//! `(webhookId, record id, event, record updatedAt)`, and fed through the same pull path as a
//! polled page, so applying a change twice (webhook + reconcile poll) is a no-op. Webhooks do not
//! move the pull cursor: the reconcile poll stays the completeness guarantee (Twenty does not
//! retry failed deliveries).

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use twenty_client::Record;
use twenty_client::webhook::{WebhookAction, WebhookVerifier};

use crate::report::{RunMode, RunReport};
use crate::source::SourceOfTruth;
use crate::state::StateStore;

use super::SyncEngine;
use super::clock;
use super::config::{RunOptions, TriggerMode};
use super::error::{SyncError, SyncErrorKind};
use super::run::Run;
use super::watermark::Walk;

/// What [`SyncEngine::handle_webhook`] did with a verified delivery.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// # use std::sync::Arc;
/// # use twenty_sync_core::engine::*;
/// # use twenty_sync_core::memory::{MemorySource, MemoryState};
/// # let client = twenty_client::Client::builder("https://crm.example.com/".parse()?, secrecy::SecretString::from("fake-api-key")).build()?;
/// let engine = SyncEngine::builder(client, MemorySource::new(), MemoryState::new())
///     .entity(Arc::new(FieldMap::new("contacts", "people", "person")))
///     .webhook_secret(secrecy::SecretString::from("fake-webhook-secret"))
///     .build()?;
/// let ts = chrono::Utc::now().timestamp_millis().to_string();
/// let body = br#"{"eventName":"opportunity.created","objectMetadata":{"nameSingular":"opportunity"},"record":{}}"#;
/// let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
/// match engine.handle_webhook(&ts, &sig, body).await? {
///     WebhookOutcome::Ignored(why) => assert!(why.contains("opportunity")),
///     other => panic!("unexpected {other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum WebhookOutcome {
    /// The record went through the pull path; the report says what was written.
    Applied(Box<RunReport>),
    /// The same delivery was already handled.
    Duplicate,
    /// The event is for an object no entity maps, or an event kind the engine ignores.
    Ignored(String),
    /// A run holds the entity's lease; the next reconcile poll picks the change up.
    Deferred,
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    /// The secret that signs deliveries. An empty one (an empty secret file, an unset
    /// variable) is refused: with it, anyone could sign a delivery.
    async fn webhook_secret(&self) -> Result<SecretString, SyncError> {
        let secret = self.configured_webhook_secret().await?;
        if secret.expose_secret().trim().is_empty() {
            return Err(SyncError::new(
                SyncErrorKind::Config,
                "the webhook secret is empty, so anyone could sign a delivery; set it to the secret of the webhook in Twenty (Settings → APIs & Webhooks)",
            ));
        }
        Ok(secret)
    }

    async fn configured_webhook_secret(&self) -> Result<SecretString, SyncError> {
        if let Some(s) = &self.webhook_secret {
            return Ok(s.clone());
        }
        if let (Some(p), Some(name)) = (&self.secrets, &self.webhook_secret_name) {
            return match p.resolve(name).await {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Err(SyncError::new(
                    SyncErrorKind::Config,
                    format!("webhook secret `{name}` not found in {}", p.describe()),
                )),
                Err(e) => Err(SyncError::from_store("resolving the webhook secret", e)),
            };
        }
        Err(SyncError::new(
            SyncErrorKind::Config,
            "no webhook secret configured; set SyncEngineBuilder::webhook_secret or webhook_secret_name",
        ))
    }

    /// Handles one raw webhook delivery (`X-Twenty-Webhook-Timestamp`,
    /// `X-Twenty-Webhook-Signature` headers and the body bytes exactly as received).
    ///
    /// Forged, altered or stale deliveries are rejected with [`SyncErrorKind::WebhookRejected`]
    /// (answer 401/400 to the sender); nothing is written for them. An engine configured
    /// [`TriggerMode::PollingOnly`] ignores every delivery, unread
    /// ([`WebhookOutcome::Ignored`]): it needs no webhook secret, and its polls stay the only
    /// writers.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(1)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// # fn delivery(event: &str, record: &serde_json::Value) -> Vec<u8> {
    /// #     serde_json::to_vec(&serde_json::json!({"eventName": event, "webhookId": "wh-1",
    /// #         "objectMetadata": {"id": "meta-person", "nameSingular": "person"}, "record": record})).unwrap()
    /// # }
    /// let source = MemorySource::new();
    /// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .webhook_secret(secrecy::SecretString::from("fake-webhook-secret"))
    ///     .build()?;
    /// let person = sim.handle().records("people")[0].clone();
    /// let body = delivery("person.created", &person);
    /// let ts = chrono::Utc::now().timestamp_millis().to_string();
    /// let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, &body);
    ///
    /// let outcome = engine.handle_webhook(&ts, &sig, &body).await?;
    /// assert!(matches!(outcome, WebhookOutcome::Applied(_)));
    /// assert_eq!(source.records("contacts").len(), 1);
    /// // The same delivery again (a replay) is dropped.
    /// let again = engine.handle_webhook(&ts, &sig, &body).await?;
    /// assert_eq!(again, WebhookOutcome::Duplicate);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn handle_webhook(
        &self,
        timestamp_header: &str,
        signature_header: &str,
        raw_body: &[u8],
    ) -> Result<WebhookOutcome, SyncError> {
        if self.config.trigger == TriggerMode::PollingOnly {
            return Ok(WebhookOutcome::Ignored(
                "webhooks are off (TriggerMode::PollingOnly): the next poll picks the change up"
                    .into(),
            ));
        }
        let verifier =
            WebhookVerifier::new(self.webhook_secret().await?).max_age(self.config.webhook_max_age);
        let event = clock::verify_on_either_clock(
            &verifier,
            (timestamp_header, signature_header, raw_body),
            Utc::now(),
            self.client.server_clock().as_ref(),
        )
        .map_err(|e| {
            SyncError::new(
                SyncErrorKind::WebhookRejected,
                format!("webhook delivery rejected: {e}"),
            )
        })?;
        let Some(m) = self
            .entities
            .iter()
            .find(|e| e.twenty_object_singular() == event.object_singular)
            .cloned()
        else {
            return Ok(WebhookOutcome::Ignored(format!(
                "no entity maps object `{}`",
                event.object_singular
            )));
        };
        let walk = match event.action {
            WebhookAction::Created
            | WebhookAction::Updated
            | WebhookAction::Upserted
            | WebhookAction::Restored => {
                if event.record.get("deletedAt").is_some_and(|d| !d.is_null()) {
                    Walk::Deleted
                } else {
                    Walk::Live
                }
            }
            WebhookAction::Deleted | WebhookAction::Destroyed => Walk::Deleted,
            _ => {
                return Ok(WebhookOutcome::Ignored(format!(
                    "event `{}` is not handled",
                    event.event_name
                )));
            }
        };
        let record_id = event
            .record
            .get("id")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let updated = event
            .record
            .get("updatedAt")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        let replay_key = format!(
            "{}|{record_id}|{}|{updated}",
            event.webhook_id.as_deref().unwrap_or_default(),
            event.event_name
        );
        let fresh = self
            .replays
            .lock()
            .map(|mut r| r.insert(replay_key.clone()))
            .unwrap_or(true);
        if !fresh {
            tracing::debug!(event = %event.event_name, record_id, "duplicate webhook delivery dropped");
            return Ok(WebhookOutcome::Duplicate);
        }
        let lease = match self.take_lease(m.name()).await {
            Ok(l) => l,
            Err(e) if e.kind() == SyncErrorKind::LeaseHeld => {
                self.forget_replay(&replay_key);
                return Ok(WebhookOutcome::Deferred);
            }
            Err(e) => {
                self.forget_replay(&replay_key);
                return Err(e);
            }
        };
        let mut run = Run::new(self.config.webhook_mode, false);
        let mut record: Record = serde_json::from_value(event.record.clone()).unwrap_or_default();
        if event.action == WebhookAction::Destroyed && record.deleted_at().is_none() {
            record.set(
                "deletedAt",
                serde_json::Value::String(Utc::now().to_rfc3339()),
            );
        }
        // A panic (a bug in the engine, a source or a store) gives the lease back before it
        // goes on, as a run's does, so that other workers need not wait for it to expire.
        let applied = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(
            self.apply_pull_page(&mut run, m.as_ref(), vec![record], walk, None, None),
        ))
        .await;
        if let Err(e) = self.state.release_lease(&lease.lease).await {
            tracing::warn!(error = %e, "could not release the lease; it will expire");
        }
        let res = match applied {
            Ok(res) => res,
            Err(panic) => {
                self.forget_replay(&replay_key);
                std::panic::resume_unwind(panic);
            }
        };
        if let Err(e) = res {
            self.forget_replay(&replay_key);
            return Err(e);
        }
        run.report.finish();
        Ok(WebhookOutcome::Applied(Box::new(run.report)))
    }

    fn forget_replay(&self, key: &str) {
        if let Ok(mut r) = self.replays.lock() {
            r.forget(key);
        }
    }

    /// Runs `mode` every `interval` until `shutdown` completes; run errors are logged (and the
    /// next tick retries, resuming from the saved state). Returns how many runs succeeded.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// # use std::sync::Arc;
    /// # use twenty_sync_core::engine::*;
    /// # use twenty_sync_core::memory::{MemorySource, MemoryState};
    /// # let sim = twenty_sim::SimServer::start(twenty_sim::SimConfig::new("sim-key").seed_people(3)).await?;
    /// # let client = twenty_client::Client::builder(sim.base_url(), secrecy::SecretString::from("sim-key")).build()?;
    /// # let contacts = twenty_sync_core::engine::FieldMap::new("contacts", "people", "person")
    /// #     .field("email", "emails.primaryEmail").field("first", "name.firstName").field("title", "jobTitle")
    /// #     .match_key("emails.primaryEmail");
    /// use std::time::Duration;
    /// use twenty_sync_core::RunMode;
    ///
    /// let source = MemorySource::new();
    /// let engine = SyncEngine::builder(client, source.clone(), MemoryState::new())
    ///     .entity(Arc::new(contacts))
    ///     .build()?;
    /// // Pull every 50 ms until the shutdown future completes (a signal, in a real service).
    /// let shutdown = tokio::time::sleep(Duration::from_millis(200));
    /// let runs = engine.run_polling(RunMode::Pull, Duration::from_millis(50), shutdown).await;
    /// assert!(runs >= 1);
    /// assert_eq!(source.records("contacts").len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # }).unwrap();
    /// ```
    pub async fn run_polling(
        &self,
        mode: RunMode,
        interval: Duration,
        shutdown: impl Future<Output = ()>,
    ) -> u64 {
        let mut ok = 0;
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => return ok,
                _ = ticker.tick() => {
                    match self.run(mode, RunOptions::new()).await {
                        Ok(out) => {
                            ok += 1;
                            tracing::info!(summary = %out.report.summary(), "polling run finished");
                        }
                        Err(e) => tracing::warn!(error = %e, "polling run failed; will retry at the next tick"),
                    }
                }
            }
        }
    }
}
