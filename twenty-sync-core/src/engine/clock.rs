//! Twenty's clock against this host's: where a pull's watermark goes, and when to warn.
//!
//! The next pull reads from `watermark - overlap` by Twenty's `updatedAt`, which Twenty's own clock
//! stamps. A watermark taken from this host's clock at the start of a pull is therefore too late
//! by as much as Twenty's clock is behind: a record changed just after the pull started is
//! stamped that much earlier, and once the difference reaches the overlap the next pull starts
//! after it and misses it. So the watermark is put on Twenty's clock ([`on_twentys_clock`]): the
//! start of the pull by this host's clock, less what the latest answer's `Date` header shows
//! Twenty's clock to be behind for certain. A Twenty clock that is ahead is left alone (pulls read
//! a little more again, and a `Date` from a proxy in front of Twenty can never make a pull read
//! less). What the `Date` header cannot bound (under a second plus the round trip) the overlap
//! covers.
//!
//! What a steady difference no longer costs, a *change* in it still can: a Twenty clock that is
//! set back by more than the overlap between two pulls stamps changes before the watermark the
//! earlier pull stored. The run report warns from half the overlap on ([`behind_warning`]).
//!
//! Twenty signs webhook deliveries with its clock too: [`verify_on_either_clock`] accepts one
//! within the allowed age of either clock. And `newest_wins` compares a local record's
//! `updated_at` (the local side's clock, taken to be this host's) with Twenty's `updatedAt`:
//! [`on_this_hosts_clock`] moves Twenty's stamp onto this host's clock first, by what Twenty's
//! clock is certainly behind or ahead, so a Twenty clock that is off does not decide conflicts.

use std::time::Duration;

use chrono::{DateTime, Utc};
use twenty_client::ServerClock;
use twenty_client::webhook::{WebhookError, WebhookEvent, WebhookVerifier};

/// `local` (a time on this host's clock) moved back onto Twenty's clock by what `clock` shows it
/// to be behind for certain; `local` itself when there is no reading or Twenty is not behind.
pub(crate) fn on_twentys_clock(local: DateTime<Utc>, clock: Option<&ServerClock>) -> DateTime<Utc> {
    let behind = clock.map_or(Duration::ZERO, ServerClock::behind_at_least);
    chrono::TimeDelta::from_std(behind).map_or(local, |b| local - b)
}

/// `twenty_at` (a stamp of Twenty's clock) moved onto this host's clock by what `clock` shows
/// Twenty's to be behind or ahead for certain; as it is without a reading.
pub(crate) fn on_this_hosts_clock(
    twenty_at: Option<DateTime<Utc>>,
    clock: Option<&ServerClock>,
) -> Option<DateTime<Utc>> {
    let (Some(at), Some(clock)) = (twenty_at, clock) else {
        return twenty_at;
    };
    let delta = |d: Duration| chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::zero());
    Some(at + delta(clock.behind_at_least()) - delta(clock.ahead_at_least()))
}

/// A delivery (`(timestamp, signature, raw body)`) verified at `now`, and, when it is stale
/// there and `clock` shows Twenty's clock behind this host's, at `now` on Twenty's clock. Stale on
/// both, the error is this host's.
pub(crate) fn verify_on_either_clock(
    verifier: &WebhookVerifier,
    (timestamp, signature, body): (&str, &str, &[u8]),
    now: DateTime<Utc>,
    clock: Option<&ServerClock>,
) -> Result<WebhookEvent, WebhookError> {
    let stale = match verifier.verify(timestamp, signature, body, now) {
        Err(stale @ WebhookError::Stale { .. }) => stale,
        verified => return verified,
    };
    let twentys_now = on_twentys_clock(now, clock);
    if twentys_now == now {
        return Err(stale);
    }
    match verifier.verify(timestamp, signature, body, twentys_now) {
        Err(WebhookError::Stale { .. }) => Err(stale),
        other => other,
    }
}

/// The run report's warning when `clock` is behind this host's by at least half of `overlap`.
pub(crate) fn behind_warning(clock: &ServerClock, overlap: Duration) -> Option<String> {
    let behind = clock.behind_at_least();
    if behind.is_zero() || behind < overlap / 2 {
        return None;
    }
    let (behind_s, overlap_s) = (behind.as_secs(), overlap.as_secs());
    let stamp = clock.observed_at.format("%Y-%m-%dT%H:%M:%SZ");
    let steady = format!(
        "pulls put their watermark on Twenty's clock, so a steady difference misses nothing, but \
         one that grows by more than the overlap ({overlap_s} s) between two pulls does: keep the \
         two clocks in step (NTP)"
    );
    let consequence = if behind >= overlap {
        format!(
            "{steady}; if the difference appeared since the previous pull, changes Twenty stamped \
             in that gap may have been missed: pull once with an overlap above the difference to \
             read them"
        )
    } else {
        steady
    };
    Some(format!(
        "Twenty's clock is at least {behind_s} s behind this host's (the Date header of its \
         answer at {stamp}): {consequence}"
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
    fn from_half_the_overlap_on_it_warns_that_only_a_growing_difference_misses_changes() {
        let w = behind_warning(&clock_behind_by(150), FIVE_MINUTES).expect("a warning");
        assert!(
            w.starts_with("Twenty's clock is at least 150 s behind this host's"),
            "{w}"
        );
        assert!(w.contains("answer at 2026-12-07T12:00:00Z"), "{w}");
        assert!(w.contains("a steady difference misses nothing"), "{w}");
        assert!(w.contains("more than the overlap (300 s)"), "{w}");
        assert!(w.contains("(NTP)"), "{w}");
        assert!(!w.contains("may have been missed"), "{w}");
    }

    #[test]
    fn at_the_overlap_it_says_a_new_difference_may_have_hidden_changes_and_how_to_read_them() {
        let w = behind_warning(&clock_behind_by(300), FIVE_MINUTES).expect("a warning");
        assert!(w.contains("a steady difference misses nothing"), "{w}");
        assert!(w.contains("may have been missed"), "{w}");
        assert!(w.contains("overlap above the difference"), "{w}");
    }

    #[test]
    fn the_watermark_moves_back_by_what_twenty_is_certainly_behind() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let start = now - chrono::TimeDelta::seconds(30);
        // Answered at 12:00:00 with a Date of 11:49:59: at least 600 s behind.
        let behind = clock_behind_by(600);
        assert_eq!(
            on_twentys_clock(start, Some(&behind)),
            start - chrono::TimeDelta::seconds(600)
        );
    }

    #[test]
    fn the_watermark_stays_on_this_hosts_clock_without_a_reading_in_step_or_ahead() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let ahead = ServerClock::from_http_date("Mon, 07 Dec 2026 12:30:00 GMT", now, now).unwrap();
        assert_eq!(on_twentys_clock(now, None), now);
        assert_eq!(on_twentys_clock(now, Some(&clock_behind_by(0))), now);
        assert_eq!(on_twentys_clock(now, Some(&ahead)), now);
    }

    #[test]
    fn a_delivery_stale_here_passes_within_the_age_of_twentys_clock_only() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let verifier = WebhookVerifier::new("fake-webhook-secret".into());
        let body = br#"{"eventName":"person.updated","record":{"id":"p1"}}"#;
        let signed = |minutes_ago: i64| {
            let ts = (now - chrono::TimeDelta::minutes(minutes_ago))
                .timestamp_millis()
                .to_string();
            let sig = twenty_sim::sign_webhook("fake-webhook-secret", &ts, body);
            (ts, sig)
        };
        let behind = clock_behind_by(600);
        let verify = |(ts, sig): &(String, String), clock: Option<&ServerClock>| {
            verify_on_either_clock(&verifier, (ts, sig, body), now, clock)
        };
        // Signed ten minutes ago by Twenty's clock, ten minutes behind: fresh there.
        let ten = signed(10);
        assert!(verify(&ten, Some(&behind)).is_ok());
        // Without a reading, or with clocks in step, only this host's clock counts.
        assert!(matches!(
            verify(&ten, None),
            Err(WebhookError::Stale { .. })
        ));
        assert!(matches!(
            verify(&ten, Some(&clock_behind_by(0))),
            Err(WebhookError::Stale { .. })
        ));
        // Fresh here passes either way.
        assert!(verify(&signed(0), Some(&behind)).is_ok());
        // Stale on both clocks: this host's distance is reported.
        let err = verify(&signed(20), Some(&behind)).unwrap_err();
        assert_eq!(
            err,
            WebhookError::Stale {
                age_ms: 1_200_000,
                max_age_ms: 300_000
            }
        );
        // A bad signature is reported as such, not as stale.
        let (ts, _) = &ten;
        let forged =
            verify_on_either_clock(&verifier, (ts, &"00".repeat(32), body), now, Some(&behind));
        assert_eq!(forged.unwrap_err(), WebhookError::SignatureMismatch);
    }

    #[test]
    fn twentys_stamps_move_onto_this_hosts_clock_by_the_certain_difference() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 11, 0, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        // At least 600 s behind: its stamps are 600 s early.
        assert_eq!(
            on_this_hosts_clock(Some(at), Some(&clock_behind_by(600))),
            Some(at + chrono::TimeDelta::seconds(600))
        );
        // At least 1,800 s ahead (a Date of 12:30:00 answered at 12:00:00): its stamps are late.
        let ahead = ServerClock::from_http_date("Mon, 07 Dec 2026 12:30:00 GMT", now, now).unwrap();
        assert_eq!(
            on_this_hosts_clock(Some(at), Some(&ahead)),
            Some(at - chrono::TimeDelta::seconds(1800))
        );
        assert_eq!(
            on_this_hosts_clock(Some(at), Some(&clock_behind_by(0))),
            Some(at)
        );
        assert_eq!(on_this_hosts_clock(Some(at), None), Some(at));
        assert_eq!(on_this_hosts_clock(None, Some(&ahead)), None);
    }

    #[test]
    fn a_zero_overlap_warns_at_any_certain_difference_only() {
        assert_eq!(behind_warning(&clock_behind_by(0), Duration::ZERO), None);
        assert!(behind_warning(&clock_behind_by(1), Duration::ZERO).is_some());
    }
}
