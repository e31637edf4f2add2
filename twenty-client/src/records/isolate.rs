//! Batches that find the records Twenty refuses: a batch Twenty rejects is sent again as its
//! two halves, all of a round's halves at once, so one refused record among 60 costs about a
//! dozen requests instead of one per record.
//!
//! When most records are refused (a mapping that gives every record a value Twenty refuses),
//! halving would cost twice the requests of one by one; [`Split::WhileSparse`] stops halving
//! where both halves of a batch were rejected, so such a batch costs three requests more than
//! one by one, at most.

use std::future::Future;
use std::ops::Range;

use crate::error::Error;

/// Batches smaller than this are not halved: their records are left to be sent one by one.
pub const MIN_SPLIT: usize = 4;

/// When [`send_isolating`] halves a rejected batch.
///
/// ```
/// use twenty_client::records::Split;
/// // Creates and updates: records are refused one at a time, rarely.
/// let sparse = Split::WhileSparse;
/// // Deletes by filter: Twenty may reject a batch for its size alone.
/// assert_ne!(sparse, Split::Halves);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// Down to batches of fewer than [`MIN_SPLIT`] records, whatever became of a batch's other
    /// half. For writes Twenty may reject for their size alone (a delete by filter over
    /// `MUTATION_MAXIMUM_AFFECTED_RECORDS`, a body over the server's limit), which the halves
    /// get under.
    Halves,
    /// While one half of each pair goes through. When both halves of a batch are rejected, its
    /// records are refused densely enough that one request per record costs less than halving
    /// on: both halves' records are left to be sent one by one.
    WhileSparse,
}

/// What the batches of [`send_isolating`] settled.
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_client::records::{Split, send_isolating};
/// let items: Vec<u32> = (0..10).collect();
/// let settled = send_isolating(&items, 5, Split::WhileSparse, |batch| async move {
///     Ok::<_, twenty_client::Error>(batch.len())
/// })
/// .await?;
/// assert_eq!(settled.accepted, vec![(0..5, 5), (5..10, 5)]);
/// assert!(settled.alone.is_empty());
/// assert_eq!(settled.rejected, 0);
/// # Ok::<(), twenty_client::Error>(())
/// # }).unwrap();
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct Settled<R> {
    /// Each batch Twenty accepted: the range of the items it carried, and Twenty's answer, in
    /// the order the answers were collected (first round first).
    pub accepted: Vec<(Range<usize>, R)>,
    /// The items of rejected batches that were not halved further, in input order: left to be
    /// sent one by one, where Twenty's answer names the record at fault.
    pub alone: Vec<usize>,
    /// How many batches (and halves) Twenty rejected on the way.
    pub rejected: usize,
}

/// Sends `items` in batches of `size` with `send`, all of a round's batches at once, and the
/// halves of the batches Twenty rejects (as `split` allows) in further rounds.
///
/// A failure that is about the records ([`Error::is_record_level`]) rejects its batch; any other
/// (the key, the network, a rate limit after the retries) stops at once and is returned, with
/// the context `records` (the failed batch's range of `items`) and `accepted_before_failure`
/// (how many items went in accepted batches before it; their writes are done).
///
/// The same records may be sent more than once, in a batch and then in its halves: `send`
/// should write them in a way that is safe to repeat when Twenty wrote part of a rejected batch
/// (Twenty's batch create and upsert write all of a batch or none of it, as do updates by id).
///
/// ```
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// use twenty_client::{Error, ErrorKind, records::{Split, send_isolating}};
/// // A stand-in for Twenty that refuses any batch holding the record 17.
/// let items: Vec<u32> = (0..60).collect();
/// let settled = send_isolating(&items, 60, Split::WhileSparse, |batch| async move {
///     if batch.contains(&17) {
///         Err(Error::new(ErrorKind::Validation { messages: vec!["bad email".into()] }, "400"))
///     } else {
///         Ok(batch.len())
///     }
/// })
/// .await?;
/// assert!(settled.alone.contains(&17) && settled.alone.len() < 4);
/// let accepted: usize = settled.accepted.iter().map(|(_, n)| n).sum();
/// assert_eq!(accepted + settled.alone.len(), 60);
///
/// // A revoked key is not about the records: the first round's error is returned.
/// let err = send_isolating(&items, 30, Split::WhileSparse, |_| async {
///     Err::<(), _>(Error::new(ErrorKind::Unauthorized, "401"))
/// })
/// .await
/// .unwrap_err();
/// assert_eq!(err.kind(), &ErrorKind::Unauthorized);
/// assert!(err.context().contains(&("records", "0..30".to_string())));
/// # Ok::<(), twenty_client::Error>(())
/// # }).unwrap();
/// ```
pub async fn send_isolating<'a, I, R, F, Fut>(
    items: &'a [I],
    size: usize,
    split: Split,
    send: F,
) -> Result<Settled<R>, Error>
where
    F: Fn(&'a [I]) -> Fut,
    Fut: Future<Output = Result<R, Error>>,
{
    let size = size.max(1);
    let mut settled = Settled {
        accepted: Vec::new(),
        alone: Vec::new(),
        rejected: 0,
    };
    let mut round: Vec<Range<usize>> = (0..items.len())
        .step_by(size)
        .map(|start| start..(start + size).min(items.len()))
        .collect();
    // After the first round, a round holds pairs of halves: batch `i`'s other half is `i ^ 1`.
    let mut halves = false;
    while !round.is_empty() {
        let sent =
            futures::future::join_all(round.iter().map(|range| send(&items[range.clone()]))).await;
        let mut rejected = vec![false; round.len()];
        let mut stop = None;
        for (i, (range, res)) in round.iter().zip(sent).enumerate() {
            match res {
                Ok(answer) => settled.accepted.push((range.clone(), answer)),
                Err(e) if !e.is_record_level() => {
                    stop.get_or_insert((range.clone(), e));
                }
                Err(e) => {
                    rejected[i] = true;
                    settled.rejected += 1;
                    tracing::debug!(
                        records = range.len(),
                        half = halves,
                        error = %e,
                        "batch rejected; isolating the records Twenty refuses"
                    );
                }
            }
        }
        if let Some((range, e)) = stop {
            let accepted: usize = settled.accepted.iter().map(|(r, _)| r.len()).sum();
            return Err(e
                .with_context("records", format!("{}..{}", range.start, range.end))
                .with_context("accepted_before_failure", accepted.to_string()));
        }
        let mut next = Vec::new();
        for (i, range) in round.iter().enumerate().filter(|(i, _)| rejected[*i]) {
            let dense = split == Split::WhileSparse && halves && rejected[i ^ 1];
            if range.len() < MIN_SPLIT || dense {
                settled.alone.extend(range.clone());
            } else {
                let middle = range.start + range.len() / 2;
                next.extend([range.start..middle, middle..range.end]);
            }
        }
        round = next;
        halves = true;
    }
    settled.alone.sort_unstable();
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use crate::ErrorKind;

    use super::*;

    /// A stand-in for Twenty that rejects a batch holding a record of `refused` or more than
    /// `cap` records, and counts the batches it was sent.
    struct Twenty {
        refused: Vec<usize>,
        cap: usize,
        sent: Mutex<Vec<Range<usize>>>,
    }

    impl Twenty {
        fn new(refused: impl IntoIterator<Item = usize>, cap: usize) -> Self {
            Twenty {
                refused: refused.into_iter().collect(),
                cap,
                sent: Mutex::new(Vec::new()),
            }
        }

        async fn send(&self, batch: &[usize]) -> Result<usize, Error> {
            let range = batch[0]..batch[batch.len() - 1] + 1;
            self.sent.lock().unwrap().push(range);
            if batch.len() > self.cap || batch.iter().any(|i| self.refused.contains(i)) {
                return Err(Error::new(
                    ErrorKind::Validation {
                        messages: vec!["a record Twenty refuses".into()],
                    },
                    "a record Twenty refuses",
                ));
            }
            Ok(batch.len())
        }

        fn requests(&self) -> usize {
            self.sent.lock().unwrap().len()
        }
    }

    async fn isolate(twenty: &Twenty, n: usize, size: usize, split: Split) -> Settled<usize> {
        let items: Vec<usize> = (0..n).collect();
        let items = items.as_slice();
        let settled = send_isolating(items, size, split, |b| twenty.send(b))
            .await
            .unwrap();
        // Every item is settled once: in an accepted batch or left alone.
        let mut seen: Vec<usize> = settled
            .accepted
            .iter()
            .flat_map(|(range, _)| range.clone())
            .chain(settled.alone.iter().copied())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        assert_eq!(
            settled.rejected + settled.accepted.len(),
            twenty.requests(),
            "every request is counted once"
        );
        settled
    }

    #[tokio::test]
    async fn accepted_batches_are_sent_once_each() {
        let twenty = Twenty::new([], usize::MAX);
        let settled = isolate(&twenty, 130, 60, Split::WhileSparse).await;
        assert_eq!(
            settled.accepted,
            [(0..60, 60), (60..120, 60), (120..130, 10)]
        );
        assert!(settled.alone.is_empty());
        assert_eq!(twenty.requests(), 3);
    }

    #[tokio::test]
    async fn one_refused_record_among_sixty_is_found_in_a_dozen_requests() {
        for bad in [0, 17, 59] {
            let twenty = Twenty::new([bad], usize::MAX);
            let settled = isolate(&twenty, 60, 60, Split::WhileSparse).await;
            assert!(settled.alone.contains(&bad), "{bad}: {settled:?}");
            assert!(settled.alone.len() < MIN_SPLIT, "{bad}: {settled:?}");
            // The batch, then a rejected and an accepted half per halving: 60, 30, 15, 7-8, 3-4
            // (and 2 when a 4 is halved).
            assert!(
                (9..=11).contains(&twenty.requests()),
                "{bad}: {} requests",
                twenty.requests()
            );
        }
    }

    #[tokio::test]
    async fn refused_records_in_both_halves_are_left_to_go_one_by_one() {
        // Every record refused: the batch and its two halves, then one by one.
        let twenty = Twenty::new(0..60, usize::MAX);
        let settled = isolate(&twenty, 60, 60, Split::WhileSparse).await;
        assert_eq!(settled.alone, (0..60).collect::<Vec<_>>());
        assert!(settled.accepted.is_empty());
        assert_eq!(twenty.requests(), 3);
        // Halving on regardless would have sent about two requests per record.
        let twenty = Twenty::new(0..60, usize::MAX);
        let settled = isolate(&twenty, 60, 60, Split::Halves).await;
        assert_eq!(settled.alone.len(), 60);
        assert!(twenty.requests() > 40, "{} requests", twenty.requests());
    }

    #[tokio::test]
    async fn a_batch_over_twentys_cap_is_halved_until_it_fits() {
        let twenty = Twenty::new([], 12);
        let settled = isolate(&twenty, 100, 100, Split::Halves).await;
        assert!(settled.alone.is_empty(), "{settled:?}");
        assert!(settled.accepted.iter().all(|(r, _)| r.len() <= 12));
        // 100, then 50 + 50, then four of 25, then eight of 12-13: the 12s go through and the
        // 13s are halved once more.
        assert!(twenty.requests() < 30, "{} requests", twenty.requests());
        // Stopping where both halves are rejected would leave them all one by one.
        let twenty = Twenty::new([], 12);
        let settled = isolate(&twenty, 100, 100, Split::WhileSparse).await;
        assert_eq!(settled.alone.len(), 100);
    }

    #[tokio::test]
    async fn a_failure_not_about_the_records_stops_the_round_it_meets() {
        // The second batch meets a revoked key; the first and third were accepted in the same
        // round, and nothing is halved.
        let items: Vec<usize> = (0..6).collect();
        let sent = Mutex::new(0);
        let err = send_isolating(&items, 2, Split::Halves, |batch| {
            *sent.lock().unwrap() += 1;
            async move {
                if batch.contains(&2) {
                    Err(Error::new(
                        ErrorKind::Unauthorized,
                        "the API key was revoked",
                    ))
                } else {
                    Ok(())
                }
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.kind(), &ErrorKind::Unauthorized);
        assert!(err.context().contains(&("records", "2..4".to_owned())));
        assert!(
            err.context()
                .contains(&("accepted_before_failure", "4".to_owned()))
        );
        assert_eq!(*sent.lock().unwrap(), 3);
    }
}
