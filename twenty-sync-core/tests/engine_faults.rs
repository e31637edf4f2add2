//! 5xx storms and dropped connections from the simulator: runs finish, or stop resumable with a clear error.

mod engine_support;

use engine_support::*;
use twenty_sim::Faults;
use twenty_sync_core::engine::RunOptions;
use twenty_sync_core::memory::{MemorySource, MemoryState};

#[tokio::test]
async fn runs_under_5xx_storms_converge_without_loss_or_duplicates() {
    let sim = sim(12).await;
    let (source, state) = (MemorySource::new(), MemoryState::new());
    for i in 0..15 {
        source.upsert(
            ENTITY,
            &format!("l-{i}"),
            person(&format!("f{i}@example.com"), "F", "T"),
        );
    }
    sim.handle().set_faults(Faults {
        // Synthetic 429s carry Twenty's real reset window (tens of seconds), far too slow for a
        // unit test; 5xx and dropped connections exercise the same retry and resume paths.
        server_error_fraction: 0.25,
        drop_fraction: 0.05,
        ..Faults::none()
    });
    let mut ok = None;
    let mut errors = Vec::new();
    for _ in 0..20 {
        // A fresh engine each time, as after a restart.
        match engine(&sim, &source, &state).sync(RunOptions::new()).await {
            Ok(r) => {
                ok = Some(r);
                break;
            }
            Err(e) => {
                assert!(e.is_temporary(), "a storm error must be temporary: {e}");
                assert!(e.run_id().is_some());
                errors.push(e.to_string());
            }
        }
    }
    let report = ok.unwrap_or_else(|| panic!("never converged: {errors:#?}"));
    assert!(
        report.retries > 0 || !errors.is_empty(),
        "faults were injected: {}",
        report.summary()
    );
    sim.handle().set_faults(Faults::none());
    engine(&sim, &source, &state)
        .sync(RunOptions::new())
        .await
        .expect("final sync");
    assert_eq!(twenty_emails(&sim).len(), 27);
    assert_eq!(local_emails(&source), twenty_emails(&sim));
    assert_linked(&sim, &source, &state).await;
}
