//! Whether a push kept up with its rate limit, or Twenty's answers set its pace.
//!
//! A push sends [`push_in_flight`](crate::engine::EngineConfig::push_in_flight) batches of a
//! chunk at once and waits for their answers before the next chunk. When Twenty answers a batch
//! more slowly than the rate limit leaves between two requests, the push runs below the limit
//! while waiting on it for almost nothing: the budget goes unused. The run report says so, with
//! how many batches in flight would keep up.

use std::time::Duration;

use twenty_client::RateLimit;

use crate::engine::MAX_PUSH_IN_FLIGHT;

/// Fewer requests than this say too little about the pace to warn.
const MIN_REQUESTS: u64 = 10;

/// The run report's warning when the push of `entity` (`requests` in `elapsed`, `waited` of it
/// on the rate limiter, `in_flight` batches at once) spent over a quarter more time per request
/// than `limit` allows, and waited on the limiter for under a tenth of its time.
pub(super) fn slower_than_the_limit(
    entity: &str,
    requests: u64,
    elapsed: Duration,
    waited: Duration,
    limit: Option<RateLimit>,
    in_flight: usize,
) -> Option<String> {
    let limit = limit?;
    let count = u32::try_from(requests).ok()?;
    if requests < MIN_REQUESTS || waited * 10 >= elapsed {
        return None;
    }
    let per_request = elapsed / count;
    let allowed = limit.interval();
    if per_request * 4 <= allowed * 5 {
        return None;
    }
    // Each batch took about `per_request × in_flight`; that many intervals of the limit.
    let per_batch = per_request.as_secs_f64() * in_flight.max(1) as f64;
    // More than `in_flight` whenever the pace is over the limit's by a quarter.
    let needed = (per_batch / allowed.as_secs_f64()).ceil() as usize + 1;
    let advice = if in_flight >= MAX_PUSH_IN_FLIGHT {
        format!(
            "push_in_flight is at its most ({MAX_PUSH_IN_FLIGHT}): Twenty answers too slowly for \
             this limit"
        )
    } else {
        format!(
            "EngineConfig::push_in_flight (now {in_flight}) sends several batches at once; about \
             {} would keep up",
            needed.min(MAX_PUSH_IN_FLIGHT)
        )
    };
    Some(format!(
        "{entity}: the push took {} ms per request while the rate limit allows one every {} ms, \
         and waited {} ms on it in {:.1} s: Twenty's answers, not the limit, set its pace; {advice}",
        per_request.as_millis(),
        allowed.as_millis(),
        waited.as_millis(),
        elapsed.as_secs_f64(),
    ))
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

    #[test]
    fn a_push_slower_per_request_than_the_limit_and_not_waiting_on_it_is_warned_of() {
        // 120 requests of 1 s each, one at a time, under 100 a minute (600 ms apart).
        let w = slower_than_the_limit("contacts", 120, ms(120_000), ms(0), twenty(), 1)
            .expect("a warning");
        assert!(
            w.starts_with("contacts: the push took 1000 ms per request while the rate limit allows one every 600 ms"),
            "{w}"
        );
        assert!(w.contains("about 3 would keep up"), "{w}");
    }

    #[test]
    fn a_push_that_keeps_up_or_waits_on_the_limit_or_has_no_limit_is_not() {
        // At the limit's pace, waiting on it.
        assert_eq!(
            slower_than_the_limit("c", 120, ms(72_000), ms(40_000), twenty(), 1),
            None
        );
        // Faster than the limit.
        assert_eq!(
            slower_than_the_limit("c", 120, ms(30_000), ms(0), twenty(), 1),
            None
        );
        // Within a quarter of it.
        assert_eq!(
            slower_than_the_limit("c", 120, ms(90_000), ms(0), twenty(), 1),
            None
        );
        // Too few requests to tell.
        assert_eq!(
            slower_than_the_limit("c", 9, ms(9_000), ms(0), twenty(), 1),
            None
        );
        // No configured limit (discovered from 429s): no interval to compare with.
        assert_eq!(
            slower_than_the_limit("c", 120, ms(120_000), ms(0), None, 1),
            None
        );
    }

    #[test]
    fn it_counts_the_batches_in_flight_and_at_the_most_says_so() {
        // 4 in flight at 800 ms per request: each batch 3.2 s, wanting 7.
        let w = slower_than_the_limit("c", 120, ms(96_000), ms(0), twenty(), 4).expect("a warning");
        assert!(
            w.contains("(now 4)") && w.contains("about 7 would keep up"),
            "{w}"
        );
        // 8 in flight at 1 s per request: each batch 8 s, wanting more than the most.
        let w =
            slower_than_the_limit("c", 120, ms(120_000), ms(0), twenty(), 8).expect("a warning");
        assert!(w.contains("push_in_flight is at its most (8)"), "{w}");
    }
}
