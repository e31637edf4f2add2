//! How many batches of a push go out at once: [`EngineConfig::push_in_flight`] at the start,
//! raised during the push, up to [`EngineConfig::push_in_flight_max`], while the rate limit is
//! not what holds it back.
//!
//! Under a known limit (configured, or learned from a 429), a push whose requests hardly wait
//! on the client's limiter is held back by something else: Twenty's answers, or a chunk's
//! local work. Its budget goes unused, either the burst of a full bucket or, when Twenty takes
//! longer to answer a batch than the limit's interval, the steady rate too ([`Pace::held_back`]).
//! More batches at once spend it sooner, and the limiter still keeps the pace within the limit
//! whatever their number. Without a known limit (a client built with `no_rate_limit()`, before
//! its first 429) nothing says how much more Twenty allows, and the number goes no higher than
//! [`WITHOUT_A_LIMIT`]: the first 429 meets at most that many batches, and teaches the client
//! the limit, under which the push may go on raising it.
//!
//! [`EngineConfig::push_in_flight`]: crate::engine::EngineConfig::push_in_flight
//! [`EngineConfig::push_in_flight_max`]: crate::engine::EngineConfig::push_in_flight_max

use std::time::Instant;

use twenty_client::{ClientStats, RateLimit};

use super::pace::Pace;

/// Fewer requests since the last change than this say too little to raise the batches in flight
/// on. Fewer than [`pace::MIN_REQUESTS`](super::pace::MIN_REQUESTS), which the report's warning
/// waits for: a raise costs little (the limiter still paces every request), and each request
/// waited for at one batch at a time is a whole answer's latency of the budget unused.
const RAISE_AFTER_REQUESTS: u64 = 4;

/// The most batches in flight a push raises itself to while no rate limit is known: the
/// requests the first 429 may meet at once (Twenty answers each of them 429, and each is sent
/// again once the client has learned the limit).
pub(super) const WITHOUT_A_LIMIT: usize = 2;

/// The batches in flight of one push, and the span its pace is judged over: since the push
/// started or since they were last raised (a pace measured with fewer in flight says nothing
/// of the new number).
#[derive(Debug)]
pub(super) struct InFlight {
    start: usize,
    now: usize,
    most: usize,
    since: Instant,
    at: ClientStats,
}

/// A raise of the batches in flight, and the pace that asked for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Raise {
    pub(super) from: usize,
    pub(super) to: usize,
    pub(super) pace: Pace,
}

impl InFlight {
    /// `start` batches at once, at most `most`, from now (the client's counters read `stats`).
    pub(super) fn new(start: usize, most: usize, stats: ClientStats) -> Self {
        InFlight {
            start: start.max(1),
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

    /// Whether the push sends the most it may: raised there, or fixed there from the start.
    pub(super) fn at_most(&self) -> bool {
        self.now >= self.most
    }

    /// Whether the push raised its batches in flight.
    pub(super) fn raised(&self) -> bool {
        self.now > self.start
    }

    /// The pace since the push started or the batches in flight were last raised.
    pub(super) fn pace(&self, stats: &ClientStats) -> Pace {
        Pace::since(self.since, &self.at, stats)
    }

    /// After a chunk (the client's counters now read `stats`): when, over at least
    /// [`RAISE_AFTER_REQUESTS`] requests since the last change, the push waited on the rate
    /// limiter for under a tenth of its time, doubles the batches in flight, or raises them to
    /// what would keep up with `limit` if Twenty's answers held the push back
    /// ([`Pace::held_back`]), whichever is more, at most `push_in_flight_max`, and at most
    /// [`WITHOUT_A_LIMIT`] while no limit is known.
    pub(super) fn after_chunk(
        &mut self,
        stats: ClientStats,
        limit: Option<RateLimit>,
    ) -> Option<Raise> {
        let most = if limit.is_some() {
            self.most
        } else {
            self.most.min(WITHOUT_A_LIMIT)
        };
        if self.now >= most {
            return None;
        }
        let pace = self.pace(&stats);
        if pace.requests < RAISE_AFTER_REQUESTS || !pace.waited_little() {
            return None; // Too few requests to tell, or the limit is what holds the push.
        }
        let needed = pace
            .held_back(limit, self.now)
            .map_or(0, |held| held.needed);
        let raise = Raise {
            from: self.now,
            to: needed.max(self.now * 2).min(most),
            pace,
        };
        self.now = raise.to;
        self.since = Instant::now();
        self.at = stats;
        Some(raise)
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
        let mut f = InFlight::new(1, 6, stats(0, 0));
        std::thread::sleep(Duration::from_millis(300));
        // 12 requests in 300 ms or more: 25 ms each against 10 ms allowed, no waiting. Each
        // took 2.5 intervals or more: at least 4 at once keep up.
        let raise = f.after_chunk(stats(12, 0), limit()).expect("raised");
        assert_eq!(raise.from, 1);
        assert!((4..=6).contains(&raise.to), "{raise:?}");
        assert_eq!(f.now(), raise.to);
        // Doubled, up to the most, and never beyond it.
        std::thread::sleep(Duration::from_millis(300));
        let raise = f.after_chunk(stats(24, 0), limit()).expect("raised");
        assert_eq!(raise.to, 6);
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(f.after_chunk(stats(36, 0), limit()), None);
        assert_eq!(f.now(), 6);
        assert!(f.at_most() && f.raised());
    }

    #[test]
    fn a_push_not_waiting_on_the_limit_doubles_its_batches_in_flight() {
        // 12 requests, faster than the limit (a full bucket's burst), without waiting on it.
        let mut f = InFlight::new(1, 8, stats(0, 0));
        let raise = f.after_chunk(
            stats(12, 0),
            Some(RateLimit::new(1, Duration::from_secs(3600))),
        );
        assert_eq!(raise.map(|r| (r.from, r.to)), Some((1, 2)));
        let raise = f.after_chunk(
            stats(24, 0),
            Some(RateLimit::new(1, Duration::from_secs(3600))),
        );
        assert_eq!(raise.map(|r| (r.from, r.to)), Some((2, 4)));
    }

    #[test]
    fn a_push_waiting_on_the_limit_or_fixed_is_left_alone_and_without_one_goes_to_two() {
        // 12 requests, with more time waiting on the limiter than has passed (they wait together).
        let mut f = InFlight::new(1, 8, stats(0, 0));
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(f.after_chunk(stats(12, 10_000), limit()), None);
        // No limit known: raised, but no further than two at once.
        let raise = f.after_chunk(stats(12, 0), None);
        assert_eq!(raise.map(|r| (r.from, r.to)), Some((1, WITHOUT_A_LIMIT)));
        assert_eq!(f.after_chunk(stats(24, 0), None), None);
        // Once a limit is known (learned from a 429), further.
        let raise = f.after_chunk(
            stats(36, 0),
            Some(RateLimit::new(1, Duration::from_secs(3600))),
        );
        assert_eq!(raise.map(|r| (r.from, r.to)), Some((2, 4)));
        // Fixed: start and most the same.
        let mut fixed = InFlight::new(2, 2, stats(0, 0));
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(fixed.after_chunk(stats(12, 0), limit()), None);
        assert!(fixed.at_most() && !fixed.raised());
        assert_eq!(fixed.now(), 2);
    }

    #[test]
    fn the_pace_after_a_raise_is_measured_from_the_raise() {
        let mut f = InFlight::new(1, 8, stats(0, 0));
        std::thread::sleep(Duration::from_millis(300));
        assert!(f.after_chunk(stats(12, 0), limit()).is_some());
        // Three requests since the raise: too few to judge again.
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(f.after_chunk(stats(15, 0), limit()), None);
        assert_eq!(f.pace(&stats(15, 0)).requests, 3);
    }
}
