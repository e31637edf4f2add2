//! How many batches of a push go out at once: [`EngineConfig::push_in_flight`] at the start,
//! raised during the push, up to [`EngineConfig::push_in_flight_max`], while Twenty's answers
//! rather than the rate limit set its pace ([`Pace::held_back`]).
//!
//! [`EngineConfig::push_in_flight`]: crate::engine::EngineConfig::push_in_flight
//! [`EngineConfig::push_in_flight_max`]: crate::engine::EngineConfig::push_in_flight_max

use std::time::Instant;

use twenty_client::{ClientStats, RateLimit};

use super::pace::{HeldBack, Pace};

/// The batches in flight of one push, and the span its pace is judged over: since the push
/// started or since they were last raised (a pace measured with fewer in flight says nothing
/// of the new number).
#[derive(Debug)]
pub(super) struct InFlight {
    now: usize,
    most: usize,
    since: Instant,
    at: ClientStats,
}

impl InFlight {
    /// `start` batches at once, at most `most`, from now (the client's counters read `stats`).
    pub(super) fn new(start: usize, most: usize, stats: ClientStats) -> Self {
        InFlight {
            now: start.max(1),
            most: most.max(start.max(1)),
            since: Instant::now(),
            at: stats,
        }
    }

    /// The batches a chunk sends at once.
    pub(super) fn now(&self) -> usize {
        self.now
    }

    /// The most the push may send at once.
    pub(super) fn most(&self) -> usize {
        self.most
    }

    /// The pace since the push started or the batches in flight were last raised.
    pub(super) fn pace(&self, stats: &ClientStats) -> Pace {
        Pace::since(self.since, &self.at, stats)
    }

    /// After a chunk (the client's counters now read `stats`): raises the batches in flight to
    /// what would keep up with `limit`, at most [`Self::most`], when Twenty's answers held the
    /// push back. Returns the raise (from, to), if any.
    pub(super) fn after_chunk(
        &mut self,
        stats: ClientStats,
        limit: Option<RateLimit>,
    ) -> Option<(usize, usize, HeldBack)> {
        if self.now >= self.most {
            return None;
        }
        let held = self.pace(&stats).held_back(limit, self.now)?;
        let from = self.now;
        self.now = held.needed.min(self.most);
        self.since = Instant::now();
        self.at = stats;
        Some((from, self.now, held))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn stats(requests: u64, throttled_ms: u64) -> ClientStats {
        ClientStats {
            requests,
            throttled: Duration::from_millis(throttled_ms),
            ..ClientStats::default()
        }
    }

    /// One request every 10 ms.
    fn limit() -> Option<RateLimit> {
        Some(RateLimit::new(100, Duration::from_secs(1)))
    }

    #[test]
    fn a_push_held_back_by_its_answers_raises_its_batches_in_flight_up_to_the_most() {
        let mut f = InFlight::new(1, 3, stats(0, 0));
        std::thread::sleep(Duration::from_millis(300));
        // 12 requests in 300 ms: 25 ms each against 10 ms allowed, no waiting.
        let (from, to, held) = f.after_chunk(stats(12, 0), limit()).expect("raised");
        assert_eq!((from, to), (1, 3), "{held:?}");
        assert!(held.needed >= 3, "{held:?}");
        assert_eq!(f.now(), 3);
        // At the most: never raised further.
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(f.after_chunk(stats(24, 0), limit()), None);
        assert_eq!(f.now(), 3);
    }

    #[test]
    fn a_push_that_keeps_up_waits_on_the_limit_or_is_fixed_is_left_alone() {
        // 12 requests, with more time waiting on the limiter than has passed (they wait together).
        let mut f = InFlight::new(1, 8, stats(0, 0));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(f.after_chunk(stats(12, 10_000), limit()), None);
        // No limit to compare with.
        assert_eq!(f.after_chunk(stats(12, 0), None), None);
        // Fixed: start and most the same.
        let mut fixed = InFlight::new(2, 2, stats(0, 0));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(fixed.after_chunk(stats(12, 0), limit()), None);
        assert_eq!((fixed.now(), fixed.most()), (2, 2));
    }

    #[test]
    fn the_pace_after_a_raise_is_measured_from_the_raise() {
        let mut f = InFlight::new(1, 8, stats(0, 0));
        std::thread::sleep(Duration::from_millis(300));
        assert!(f.after_chunk(stats(12, 0), limit()).is_some());
        // Three requests since the raise: too few to judge again.
        assert_eq!(f.after_chunk(stats(15, 0), limit()), None);
        assert_eq!(f.pace(&stats(15, 0)).requests, 3);
    }
}
