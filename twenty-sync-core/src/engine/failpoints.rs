//! Named crash points, to test that an interrupted run resumes without loss or duplicates.
//!
//! Public so that integration tests (and sinks' own tests) can use them; a production engine
//! simply never arms one. An armed point makes the engine stop with
//! [`SyncErrorKind::Failpoint`] the next time it is reached,
//! exactly as if the process had died there (nothing after it runs; nothing is cleaned up).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::error::{SyncError, SyncErrorKind};

/// After the write-ahead create intents of a push batch are committed, before Twenty is called.
pub const PUSH_AFTER_PENDING_COMMIT: &str = "push.after_pending_commit";
/// After a push batch was written to Twenty, before anything is recorded.
pub const PUSH_AFTER_TWENTY_WRITE: &str = "push.after_twenty_write";
/// Right before the state of a push batch (ID map, hashes, cursor) is committed.
pub const PUSH_BEFORE_STATE_COMMIT: &str = "push.before_state_commit";
/// After a pull batch was applied to the source, before the state is committed separately.
pub const PULL_AFTER_SOURCE_APPLY: &str = "pull.after_source_apply";
/// Before the final pull cursor (the walk start) is committed.
pub const PULL_BEFORE_CURSOR_COMMIT: &str = "pull.before_cursor_commit";

/// Every failpoint the engine checks.
pub const ALL: &[&str] = &[
    PUSH_AFTER_PENDING_COMMIT,
    PUSH_AFTER_TWENTY_WRITE,
    PUSH_BEFORE_STATE_COMMIT,
    PULL_AFTER_SOURCE_APPLY,
    PULL_BEFORE_CURSOR_COMMIT,
];

/// A set of armed failpoints, shared by clones.
///
/// ```
/// use twenty_sync_core::engine::failpoints::{Failpoints, PUSH_AFTER_TWENTY_WRITE};
/// let fp = Failpoints::new();
/// fp.arm(PUSH_AFTER_TWENTY_WRITE, 1);
/// assert!(fp.check(PUSH_AFTER_TWENTY_WRITE).is_err());
/// assert!(fp.check(PUSH_AFTER_TWENTY_WRITE).is_ok(), "fires once");
/// ```
#[derive(Debug, Clone, Default)]
pub struct Failpoints {
    armed: Arc<Mutex<HashMap<String, u32>>>,
}

impl Failpoints {
    /// No point armed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms `name` so that its `hit`-th visit (1 = the next one) fails, once.
    pub fn arm(&self, name: &str, hit: u32) {
        if let Ok(mut m) = self.armed.lock() {
            m.insert(name.to_owned(), hit.max(1));
        }
    }

    /// Disarms every point.
    pub fn clear(&self) {
        if let Ok(mut m) = self.armed.lock() {
            m.clear();
        }
    }

    /// Called by the engine at point `name`: fails when it is armed and due.
    pub fn check(&self, name: &str) -> Result<(), SyncError> {
        let Ok(mut m) = self.armed.lock() else {
            return Ok(());
        };
        let Some(left) = m.get_mut(name) else {
            return Ok(());
        };
        *left -= 1;
        if *left == 0 {
            m.remove(name);
            return Err(SyncError::new(
                SyncErrorKind::Failpoint,
                format!("failpoint `{name}` fired (simulated crash); run again to resume"),
            ));
        }
        Ok(())
    }
}
