//! Whether a push kept up with its rate limit, or Twenty's answers set its pace.
//!
//! A push sends the batches of a chunk at once (see
//! [`push_in_flight`](crate::engine::EngineConfig::push_in_flight)) and waits for their answers
//! before the next chunk. When Twenty answers a batch more slowly than the rate limit leaves
//! between two requests, the push runs below the limit while waiting on it for almost nothing:
//! the budget goes unused. [`Pace::held_back`] tells that case and how many batches in flight
//! would keep up; the push raises its batches in flight by it (`in_flight`), and its run report
//! says so when it could not raise them far enough ([`held_back_warning`]).

use std::time::{Duration, Instant};

use twenty_client::{ClientStats, RateLimit};

use crate::engine::MAX_PUSH_IN_FLIGHT;

/// Fewer requests than this say too little about the pace to judge it.
pub(super) const MIN_REQUESTS: u64 = 10;

/// What a push did over some span: requests sent, time passed, and time of it spent waiting on
/// the client's rate limiter (or 429 pauses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pace {
    pub(super) requests: u64,
    pub(super) elapsed: Duration,
    pub(super) waited: Duration,
}

/// A pace set by Twenty's answers rather than by the rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct HeldBack {
    /// Time per request.
    pub(super) per_request: Duration,
    /// The limit's interval between two requests.
    pub(super) allowed: Duration,
    /// Batches in flight that would keep up with the limit: more than those that were.
    pub(super) needed: usize,
}

impl Pace {
    /// The span from `since` (when the client's counters read `before`) to now (`after`).
    pub(super) fn since(since: Instant, before: &ClientStats, after: &ClientStats) -> Pace {
        Pace {
            requests: after.requests.saturating_sub(before.requests),
            elapsed: since.elapsed(),
            waited: after.throttled.saturating_sub(before.throttled),
        }
    }

    /// Whether the push waited on the rate limit for under a tenth of its time: the limit is
    /// not what held it back.
    pub(super) fn waited_little(&self) -> bool {
        self.waited * 10 < self.elapsed
    }

    /// Whether this pace, with `in_flight` batches at once, was set by Twenty's answers rather
    /// than by `limit`: at least [`MIN_REQUESTS`] requests, over a quarter more time per request
    /// than the limit's interval, and under a tenth of the time spent waiting on the limit.
    /// `None` without a limit (no interval to compare with).
    pub(super) fn held_back(&self, limit: Option<RateLimit>, in_flight: usize) -> Option<HeldBack> {
        let limit = limit?;
        let count = u32::try_from(self.requests).ok()?;
        if self.requests < MIN_REQUESTS || !self.waited_little() {
            return None;
        }
        let per_request = self.elapsed / count;
        let allowed = limit.interval();
        if per_request * 4 <= allowed * 5 {
            return None;
        }
        // Each batch took about `per_request × in_flight`: that many intervals of the limit,
        // and one more so that a batch is always waiting on the limit rather than on Twenty.
        let per_batch = per_request.as_secs_f64() * in_flight.max(1) as f64;
        let needed = (per_batch / allowed.as_secs_f64().max(1e-9)).ceil() as usize + 1;
        Some(HeldBack {
            per_request,
            allowed,
            needed: needed.max(in_flight + 1),
        })
    }
}

/// The run report's warning for the push of `entity` held back by Twenty's answers (`held`,
/// over `pace`) at its most batches in flight, `in_flight`; `raised` when the push raised them
/// there (its start was lower), not when they were fixed.
pub(super) fn held_back_warning(
    entity: &str,
    pace: &Pace,
    held: &HeldBack,
    in_flight: usize,
    raised: bool,
) -> String {
    let needed = held.needed.min(MAX_PUSH_IN_FLIGHT);
    let advice = if in_flight >= MAX_PUSH_IN_FLIGHT {
        format!(
            "push_in_flight is at its most ({MAX_PUSH_IN_FLIGHT}): Twenty answers too slowly for \
             this limit"
        )
    } else if raised {
        format!(
            "the push raised its batches in flight to EngineConfig::push_in_flight_max (now \
             {in_flight}); about {needed} would keep up"
        )
    } else {
        format!(
            "EngineConfig::push_in_flight (now {in_flight}) is fixed by an equal \
             push_in_flight_max, and a higher push_in_flight_max lets the push raise it; about \
             {needed} would keep up"
        )
    };
    format!(
        "{entity}: the push took {} ms per request while the rate limit allows one every {} ms, \
         and waited {} ms on it in {:.1} s: Twenty's answers, not the limit, set its pace; {advice}",
        held.per_request.as_millis(),
        held.allowed.as_millis(),
        pace.waited.as_millis(),
        pace.elapsed.as_secs_f64(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twenty's default: 100 requests a minute, one every 600 ms.
    fn twenty() -> Option<RateLimit> {
        Some(RateLimit::default())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn pace(requests: u64, elapsed: u64, waited: u64) -> Pace {
        Pace {
            requests,
            elapsed: ms(elapsed),
            waited: ms(waited),
        }
    }

    #[test]
    fn a_pace_slower_per_request_than_the_limit_and_not_waiting_on_it_is_held_back() {
        // 120 requests of 1 s each, one at a time, under 100 a minute (600 ms apart).
        let p = pace(120, 120_000, 0);
        let held = p.held_back(twenty(), 1).expect("held back");
        assert_eq!(
            held,
            HeldBack {
                per_request: ms(1000),
                allowed: ms(600),
                needed: 3
            }
        );
        let w = held_back_warning("contacts", &p, &held, 1, false);
        assert!(
            w.starts_with("contacts: the push took 1000 ms per request while the rate limit allows one every 600 ms"),
            "{w}"
        );
        assert!(
            w.contains(
                "EngineConfig::push_in_flight (now 1) is fixed by an equal push_in_flight_max"
            ) && w.contains("about 3 would keep up"),
            "{w}"
        );
    }

    #[test]
    fn a_pace_that_keeps_up_or_waits_on_the_limit_or_has_no_limit_is_not() {
        // At the limit's pace, waiting on it.
        assert_eq!(pace(120, 72_000, 40_000).held_back(twenty(), 1), None);
        // Faster than the limit.
        assert_eq!(pace(120, 30_000, 0).held_back(twenty(), 1), None);
        // Within a quarter of it.
        assert_eq!(pace(120, 90_000, 0).held_back(twenty(), 1), None);
        // Too few requests to tell.
        assert_eq!(pace(9, 9_000, 0).held_back(twenty(), 1), None);
        // No limit (none configured, none learned from a 429): no interval to compare with.
        assert_eq!(pace(120, 120_000, 0).held_back(None, 1), None);
    }

    #[test]
    fn it_counts_the_batches_in_flight_and_names_the_knob_that_would_help() {
        // 4 in flight at 800 ms per request: each batch 3.2 s, wanting 7.
        let p = pace(120, 96_000, 0);
        let held = p.held_back(twenty(), 4).expect("held back");
        assert_eq!(held.needed, 7);
        // Raised by the push to a most of 4.
        let w = held_back_warning("c", &p, &held, 4, true);
        assert!(
            w.contains("push_in_flight_max (now 4)") && w.contains("about 7 would keep up"),
            "{w}"
        );
        // 8 in flight at 1 s per request: each batch 8 s, wanting more than the most.
        let p = pace(120, 120_000, 0);
        let held = p.held_back(twenty(), 8).expect("held back");
        let w = held_back_warning("c", &p, &held, 8, true);
        assert!(w.contains("push_in_flight is at its most (8)"), "{w}");
    }

    #[test]
    fn a_pace_just_over_the_limit_still_wants_one_more_in_flight() {
        // 2 in flight at 800 ms per request against 600 ms: each batch 1.6 s, 3 intervals.
        let held = pace(40, 32_000, 0)
            .held_back(twenty(), 2)
            .expect("held back");
        assert_eq!(held.needed, 4);
        // 6 in flight at 760 ms: 4.56 s a batch, 8 intervals; never fewer than one more.
        let held = pace(40, 30_400, 0)
            .held_back(twenty(), 6)
            .expect("held back");
        assert!(held.needed > 6, "{held:?}");
    }
}
