//! Whether Twenty's clock is far enough behind this host's to matter to the pull overlap.
//!
//! The pull watermark is this host's clock at the start of the previous pull, and the next pull
//! reads from `watermark - overlap` by Twenty's `updatedAt`, which Twenty's own clock stamps. A
//! record changed just after a pull started is stamped that much earlier when Twenty's clock is
//! behind; once the difference reaches the overlap, the next pull starts after it and misses it.
//! A Twenty clock that is ahead only makes pulls read a little more again. The run report warns
//! from half the overlap on, while nothing has been missed yet.

use std::time::Duration;

use twenty_client::ServerClock;

/// The run report's warning when `clock` is behind this host's by at least half of `overlap`.
pub(crate) fn behind_warning(clock: &ServerClock, overlap: Duration) -> Option<String> {
    let behind = clock.behind_at_least();
    if behind.is_zero() || behind < overlap / 2 {
        return None;
    }
    let (behind_s, overlap_s) = (behind.as_secs(), overlap.as_secs());
    let stamp = clock.observed_at.format("%Y-%m-%dT%H:%M:%SZ");
    let consequence = if behind >= overlap {
        "changes Twenty stamped in that gap may already have been missed: after fixing the clock, \
         pull once with an overlap above the difference to read them"
            .to_owned()
    } else {
        format!(
            "incremental pulls miss changes once the difference reaches the overlap \
             ({overlap_s} s): keep the two clocks in step (NTP) or raise EngineConfig::overlap"
        )
    };
    Some(format!(
        "Twenty's clock is at least {behind_s} s behind this host's (the Date header of its \
         answer at {stamp}), and the pull overlap is {overlap_s} s: {consequence}"
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn clock_behind_by(seconds: i64) -> ServerClock {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let date = (now - chrono::TimeDelta::seconds(seconds + 1)).to_rfc2822();
        ServerClock::from_http_date(&date, now, now).unwrap()
    }

    const FIVE_MINUTES: Duration = Duration::from_secs(300);

    #[test]
    fn clocks_in_step_or_a_server_ahead_say_nothing() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let ahead = ServerClock::from_http_date("Mon, 07 Dec 2026 12:30:00 GMT", now, now).unwrap();
        assert_eq!(behind_warning(&ahead, FIVE_MINUTES), None);
        assert_eq!(behind_warning(&clock_behind_by(0), FIVE_MINUTES), None);
    }

    #[test]
    fn a_difference_under_half_the_overlap_says_nothing() {
        assert_eq!(behind_warning(&clock_behind_by(149), FIVE_MINUTES), None);
    }

    #[test]
    fn from_half_the_overlap_on_it_warns_before_anything_is_missed() {
        let w = behind_warning(&clock_behind_by(150), FIVE_MINUTES).expect("a warning");
        assert!(
            w.starts_with("Twenty's clock is at least 150 s behind this host's"),
            "{w}"
        );
        assert!(w.contains("answer at 2026-12-07T12:00:00Z"), "{w}");
        assert!(w.contains("raise EngineConfig::overlap"), "{w}");
        assert!(!w.contains("missed:"), "{w}");
    }

    #[test]
    fn at_the_overlap_it_says_changes_may_be_missed_and_how_to_read_them() {
        let w = behind_warning(&clock_behind_by(300), FIVE_MINUTES).expect("a warning");
        assert!(w.contains("may already have been missed"), "{w}");
        assert!(w.contains("overlap above the difference"), "{w}");
    }

    #[test]
    fn a_zero_overlap_warns_at_any_certain_difference_only() {
        assert_eq!(behind_warning(&clock_behind_by(0), Duration::ZERO), None);
        assert!(behind_warning(&clock_behind_by(1), Duration::ZERO).is_some());
    }
}
