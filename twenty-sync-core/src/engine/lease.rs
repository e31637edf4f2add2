//! One run at a time per entity: the [`StateStore`]'s lease keeps other processes out, the
//! engine's own claims keep its other runs and webhooks out, and a run renews its leases while
//! it works.
//!
//! A store's lease is re-entrant for its holder (the same holder takes it again with the same
//! token), and every run and webhook of one engine is the same holder
//! ([`EngineConfig::holder_id`](super::EngineConfig::holder_id)). Without claims, a webhook
//! handled while the engine's own run pulls would take the run's lease, apply beside it, and
//! release it under the run; two `run` calls on one engine would run together.
//!
//! Every commit made while a lease is held carries its [`Fence`]: the store refuses it unless
//! the lease is still the current one, checked with the write. A run whose lease lapsed and was
//! taken (a process paused past its renewals) cannot commit state over the new holder's; its
//! next commit fails with `LeaseHeld` and the run stops. (Not fenced: the Twenty writes of the
//! push chunk it was sending, and data a source applies before the state commit.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::model::{Fence, Lease};
use crate::source::SourceOfTruth;
use crate::state::StateStore;

use super::SyncEngine;
use super::error::{SyncError, SyncErrorKind};
use super::mapper::EntityMapper;

/// The scopes this engine's runs and webhooks hold (or are taking) a lease on, each with the
/// fence of its lease once taken.
#[derive(Debug, Default)]
pub(crate) struct Claims(Arc<Mutex<HashMap<String, Option<Fence>>>>);

impl Claims {
    /// Claims `scope` for the caller, or `None` while another run of this engine has it.
    fn claim(&self, scope: &str) -> Option<Claim> {
        let mut claims = lock(&self.0);
        if claims.contains_key(scope) {
            return None;
        }
        claims.insert(scope.to_owned(), None);
        Some(Claim {
            scope: scope.to_owned(),
            claims: Arc::clone(&self.0),
        })
    }

    /// The fence of the lease held on `scope`, if one is.
    fn fence(&self, scope: &str) -> Option<Fence> {
        lock(&self.0).get(scope).cloned().flatten()
    }
}

/// A claimed scope, given back when dropped (at the end of the run, on an error, or when the
/// run's future is dropped).
#[derive(Debug)]
struct Claim {
    scope: String,
    claims: Arc<Mutex<HashMap<String, Option<Fence>>>>,
}

impl Claim {
    /// Records the lease taken for the claimed scope: commits are fenced by it from now on.
    fn hold(&self, lease: &Lease) {
        lock(&self.claims).insert(self.scope.clone(), Some(lease.fence()));
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        lock(&self.claims).remove(&self.scope);
    }
}

/// The set of claimed scopes. A panic elsewhere while it was held leaves it consistent (each
/// use is one insert or remove), so a poisoned lock is taken over rather than refusing every
/// later run or keeping a scope claimed for good.
fn lock<T>(claims: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    claims
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A lease of the store, held by one run or webhook of this engine.
#[derive(Debug)]
pub(crate) struct HeldLease {
    pub(crate) lease: Lease,
    _claim: Claim,
}

fn lease_held(scope: &str, by: &str) -> SyncError {
    SyncError::new(
        SyncErrorKind::LeaseHeld,
        format!(
            "{by} holds the lease on `{scope}`; wait for it to finish (or for its lease to expire) and run again"
        ),
    )
}

impl<S: SourceOfTruth, T: StateStore> SyncEngine<S, T> {
    pub(crate) fn lease_scope(&self, entity: &str) -> String {
        format!("{}#{entity}", self.client.base_url())
    }

    /// The fence of the lease this engine holds on `entity`, if it holds one (a dry run takes
    /// none, and commits nothing): what every commit of the entity's state carries.
    pub(crate) fn fence_of(&self, entity: &str) -> Option<Fence> {
        self.claims.fence(&self.lease_scope(entity))
    }

    /// Takes the lease of `entity` for one run or webhook: `LeaseHeld` while another run or
    /// webhook of this engine, or another holder, has it.
    pub(crate) async fn take_lease(&self, entity: &str) -> Result<HeldLease, SyncError> {
        let scope = self.lease_scope(entity);
        let claim = self
            .claims
            .claim(&scope)
            .ok_or_else(|| lease_held(&scope, "another run of this engine"))?;
        match self
            .state
            .acquire_lease(&scope, &self.config.holder_id, self.config.lease_ttl)
            .await
        {
            Ok(Some(lease)) => {
                claim.hold(&lease);
                Ok(HeldLease {
                    lease,
                    _claim: claim,
                })
            }
            Ok(None) => Err(lease_held(&scope, "another run")),
            Err(e) => Err(SyncError::from_store("taking the lease", e)),
        }
    }

    /// Takes the lease of each of `entities` in turn into `leases`; stops at the first that
    /// cannot be taken, keeping those taken before it in `leases`.
    pub(crate) async fn take_leases(
        &self,
        entities: &[Arc<dyn EntityMapper>],
        leases: &mut Vec<HeldLease>,
    ) -> Result<(), SyncError> {
        for e in entities {
            leases.push(self.take_lease(e.name()).await?);
        }
        Ok(())
    }

    /// Releases `leases` in the store; one that cannot be released is logged and left to
    /// expire. The engine's claims go when `leases` are dropped.
    pub(crate) async fn release_leases(&self, leases: &[HeldLease]) {
        for held in leases {
            if let Err(e) = self.state.release_lease(&held.lease).await {
                tracing::warn!(scope = %held.lease.scope, error = %e, "could not release the lease; it will expire");
            }
        }
    }

    /// Renews `leases` every third of their time-to-live, for as long as it is polled, and
    /// returns only when one was lost: it expired (the store could not be reached to renew it
    /// for two thirds of its time-to-live) and the store gave it a new token, or another holder
    /// has it now. A renewal the store fails is logged and tried again at the next tick.
    pub(crate) async fn keep_leases(&self, leases: &[HeldLease]) -> SyncError {
        let every = self.config.lease_ttl / 3;
        loop {
            tokio::time::sleep(every).await;
            for held in leases {
                let scope = &held.lease.scope;
                match self
                    .state
                    .acquire_lease(scope, &self.config.holder_id, self.config.lease_ttl)
                    .await
                {
                    Ok(Some(renewed)) if renewed.token == held.lease.token => {}
                    Ok(_) => {
                        return SyncError::new(
                            SyncErrorKind::LeaseHeld,
                            format!(
                                "the lease on `{scope}` lapsed during the run and another run may have taken it: the two may have overlapped; the run stopped, its commits so far are kept, and the next run takes up from them"
                            ),
                        );
                    }
                    Err(e) => {
                        tracing::warn!(%scope, error = %e, "could not renew the lease; trying again");
                    }
                }
            }
        }
    }
}
