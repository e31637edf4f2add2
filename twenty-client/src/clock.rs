//! What a response's `Date` header says of the server's clock against this host's.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use reqwest::header::{DATE, HeaderMap};

/// The server's clock against this host's, as one response's `Date` header bounds it.
///
/// A `Date` header has whole seconds, and the server wrote it at some moment between this host
/// sending the request and receiving the answer. So the offset (the server's clock minus this
/// host's) is only known to lie in an interval: from `Date − received` to
/// `Date + 1 s − sent`. The interval is about a second plus the round trip wide; what it rules out
/// is certain. Every Twenty version sends the header (the 2.21.0 captures and the simulator do).
///
/// [`Client::server_clock`](crate::Client::server_clock) keeps the latest response's.
///
/// ```
/// use chrono::{TimeZone, Utc};
/// use std::time::Duration;
/// use twenty_client::ServerClock;
///
/// // Sent at 10:00:30.000 and answered at 10:00:30.200 by this host's clock; the server said 09:58:00.
/// let sent = Utc.with_ymd_and_hms(2026, 12, 7, 10, 0, 30).unwrap();
/// let received = sent + chrono::TimeDelta::milliseconds(200);
/// let clock = ServerClock::from_http_date("Mon, 07 Dec 2026 09:58:00 GMT", sent, received).unwrap();
/// // The server's clock is at least 149 s behind this host's (09:58:01 against 10:00:30), at most 150.2 s.
/// assert_eq!(clock.behind_at_least(), Duration::from_secs(149));
/// assert_eq!(clock.ahead_at_least(), Duration::ZERO);
/// assert!(ServerClock::from_http_date("yesterday", sent, received).is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerClock {
    /// When the answer arrived, by this host's clock.
    pub observed_at: DateTime<Utc>,
    /// The least the server's clock can be ahead of this host's (negative: behind).
    pub offset_min: TimeDelta,
    /// The most the server's clock can be ahead of this host's (negative: behind).
    pub offset_max: TimeDelta,
}

impl ServerClock {
    /// Bound the offset from an HTTP date (RFC 9110's IMF-fixdate, e.g.
    /// `Sun, 22 Nov 2026 19:47:34 GMT`) written between `sent` and `received`; `None` if it does
    /// not parse, lies at the very end of the representable range (no later second exists to
    /// bound it), or `received` is before `sent`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use twenty_client::ServerClock;
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 11, 22, 19, 47, 34).unwrap();
    /// let clock = ServerClock::from_http_date("Sun, 22 Nov 2026 19:47:34 GMT", at, at).unwrap();
    /// assert_eq!((clock.offset_min.num_seconds(), clock.offset_max.num_seconds()), (0, 1));
    /// // A nonsense date is ignored, never a panic.
    /// assert!(ServerClock::from_http_date("31 Dec 262142 23:59:59 GMT", at, at).is_none());
    /// ```
    pub fn from_http_date(
        value: &str,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
    ) -> Option<Self> {
        if received < sent {
            return None;
        }
        let date = DateTime::parse_from_rfc2822(value.trim()).ok()?.to_utc();
        let end_of_second = date.checked_add_signed(TimeDelta::seconds(1))?;
        Some(ServerClock {
            observed_at: received,
            offset_min: date.signed_duration_since(received),
            offset_max: end_of_second.signed_duration_since(sent),
        })
    }

    /// How far the server's clock is certainly behind this host's (zero when it may not be).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use std::time::Duration;
    /// use twenty_client::ServerClock;
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 11, 22, 19, 47, 34).unwrap();
    /// let in_step = ServerClock::from_http_date("Sun, 22 Nov 2026 19:47:34 GMT", at, at).unwrap();
    /// assert_eq!(in_step.behind_at_least(), Duration::ZERO);
    /// let slow = ServerClock::from_http_date("Sun, 22 Nov 2026 19:40:00 GMT", at, at).unwrap();
    /// assert_eq!(slow.behind_at_least(), Duration::from_secs(453));
    /// ```
    pub fn behind_at_least(&self) -> Duration {
        (-self.offset_max).to_std().unwrap_or(Duration::ZERO)
    }

    /// How far the server's clock is certainly ahead of this host's (zero when it may not be).
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use std::time::Duration;
    /// use twenty_client::ServerClock;
    ///
    /// let at = Utc.with_ymd_and_hms(2026, 11, 22, 19, 47, 34).unwrap();
    /// let fast = ServerClock::from_http_date("Sun, 22 Nov 2026 19:48:34 GMT", at, at).unwrap();
    /// assert_eq!(fast.ahead_at_least(), Duration::from_secs(60));
    /// assert_eq!(fast.behind_at_least(), Duration::ZERO);
    /// ```
    pub fn ahead_at_least(&self) -> Duration {
        self.offset_min.to_std().unwrap_or(Duration::ZERO)
    }

    /// From a response's headers; `None` without a readable `Date`.
    pub(crate) fn from_headers(
        headers: &HeaderMap,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
    ) -> Option<Self> {
        let value = headers.get(DATE)?.to_str().ok()?;
        Self::from_http_date(value, sent, received)
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use reqwest::header::HeaderValue;

    use super::*;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, h, m, s).unwrap()
    }

    #[test]
    fn the_interval_spans_the_round_trip_and_the_headers_missing_second() {
        let sent = at(19, 47, 30);
        let received = sent + TimeDelta::milliseconds(300);
        let c =
            ServerClock::from_http_date("Sun, 22 Nov 2026 19:47:30 GMT", sent, received).unwrap();
        assert_eq!(c.offset_min, TimeDelta::milliseconds(-300));
        assert_eq!(c.offset_max, TimeDelta::seconds(1));
        assert_eq!(c.observed_at, received);
        assert_eq!(c.behind_at_least(), Duration::ZERO);
        assert_eq!(c.ahead_at_least(), Duration::ZERO);
    }

    #[test]
    fn a_server_minutes_behind_is_certainly_behind_by_the_date_less_a_second() {
        let sent = at(19, 52, 0);
        let c = ServerClock::from_http_date("Sun, 22 Nov 2026 19:47:30 GMT", sent, sent).unwrap();
        assert_eq!(c.behind_at_least(), Duration::from_secs(269));
    }

    #[test]
    fn the_captures_date_format_parses_from_headers() {
        let mut headers = HeaderMap::new();
        headers.insert(
            DATE,
            HeaderValue::from_static("Sun, 22 Nov 2026 19:47:34 GMT"),
        );
        let c = ServerClock::from_headers(&headers, at(19, 47, 34), at(19, 47, 34)).unwrap();
        assert_eq!(c.offset_min, TimeDelta::zero());
    }

    #[test]
    fn a_missing_or_unreadable_date_or_a_reversed_interval_gives_none() {
        let t = at(19, 47, 34);
        assert!(ServerClock::from_headers(&HeaderMap::new(), t, t).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(DATE, HeaderValue::from_static("not a date"));
        assert!(ServerClock::from_headers(&headers, t, t).is_none());
        assert!(
            ServerClock::from_http_date(
                "Sun, 22 Nov 2026 19:47:34 GMT",
                t,
                t - TimeDelta::seconds(1)
            )
            .is_none()
        );
    }

    #[test]
    fn a_date_at_the_end_of_chronos_range_is_ignored_not_a_panic() {
        let t = at(19, 47, 34);
        // chrono's last second; its parser refuses year 262143 already.
        assert!(ServerClock::from_http_date("31 Dec 262142 23:59:59 GMT", t, t).is_none());
        let mut headers = HeaderMap::new();
        headers.insert(DATE, HeaderValue::from_static("31 Dec 262142 23:59:59 GMT"));
        assert!(ServerClock::from_headers(&headers, t, t).is_none());
    }
}
