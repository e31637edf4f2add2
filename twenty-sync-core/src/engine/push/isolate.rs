//! A chunk's batches of one kind of write, sent all at once; a batch Twenty rejects is sent
//! again as its two halves, all of a round's halves at once, to find the records Twenty refuses
//! in a few requests instead of one per record of the batch.
//!
//! One record Twenty refuses among 60 costs a dozen requests this way (a rejected half and an
//! accepted one per halving), where sending the batch's records one by one costs 60. When most
//! records are refused (a mapping that gives every record a value Twenty refuses), halving would
//! cost twice the requests of one by one; [`Split::WhileSparse`] stops halving where both halves
//! of a batch were rejected, so such a batch costs three requests more than one by one, at most.

use std::future::Future;
use std::ops::Range;

use super::{SyncError, is_run_level};

/// Batches smaller than this are not halved: their records are left to be sent one by one.
pub(super) const MIN_SPLIT: usize = 4;

/// When a rejected batch is halved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Split {
    /// Down to batches of fewer than [`MIN_SPLIT`] records, whatever became of a batch's other
    /// half. For writes Twenty may reject for their size alone (a delete by filter over
    /// `MUTATION_MAXIMUM_AFFECTED_RECORDS`), which the halves get under.
    Halves,
    /// While one half of each pair goes through. When both halves of a batch are rejected, its
    /// records are refused densely enough that one request per record costs less than halving
    /// on: both halves' records are left to be sent one by one.
    WhileSparse,
}

/// The kind of write a batch carries, for logs and errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Write {
    Create,
    Upsert,
    Update,
    Delete,
}

impl Write {
    fn noun(self) -> &'static str {
        match self {
            Write::Create => "create",
            Write::Upsert => "upsert",
            Write::Update => "update",
            Write::Delete => "delete",
        }
    }

    fn doing(self) -> &'static str {
        match self {
            Write::Create => "creating",
            Write::Upsert => "upserting",
            Write::Update => "updating",
            Write::Delete => "deleting",
        }
    }
}

/// What the batches of [`send_isolating`] settled.
#[derive(Debug)]
pub(super) struct Settled<R> {
    /// Each batch Twenty accepted: the range of the items it carried, and Twenty's answer.
    pub(super) accepted: Vec<(Range<usize>, R)>,
    /// The items of rejected batches that were not halved further, in order: left to be sent
    /// one by one, where Twenty's answer names the record at fault.
    pub(super) alone: Vec<usize>,
}

/// Sends `items` in batches of `size` with `send`, all at once, and the halves of the batches
/// Twenty rejects (as `split` allows) in further rounds, each round's all at once. A failure
/// that is not about the records sent ([`is_run_level`]) stops at once, as the error of
/// `write` for the entity.
pub(super) async fn send_isolating<'a, I, R, F, Fut>(
    entity: &str,
    write: Write,
    items: &'a [I],
    size: usize,
    split: Split,
    send: F,
) -> Result<Settled<R>, SyncError>
where
    F: Fn(&'a [I]) -> Fut,
    Fut: Future<Output = Result<R, twenty_client::Error>>,
{
    let size = size.max(1);
    let mut settled = Settled {
        accepted: Vec::new(),
        alone: Vec::new(),
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
        for (i, (range, res)) in round.iter().zip(sent).enumerate() {
            match res {
                Ok(answer) => settled.accepted.push((range.clone(), answer)),
                Err(e) if is_run_level(&e) => {
                    return Err(SyncError::from_twenty(
                        &format!("{} {} record(s) in Twenty", write.doing(), range.len()),
                        e,
                    ));
                }
                Err(e) => {
                    rejected[i] = true;
                    // A warning for a batch of the chunk; its halves' rejections follow from it.
                    if halves {
                        tracing::debug!(
                            entity,
                            records = range.len(),
                            error = %e,
                            "half of a rejected batch {} rejected",
                            write.noun()
                        );
                    } else {
                        tracing::warn!(
                            entity,
                            records = range.len(),
                            error = %e,
                            "batch {} rejected; isolating the records Twenty refuses",
                            write.noun()
                        );
                    }
                }
            }
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

    use twenty_client::ErrorKind;

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

        async fn send(&self, batch: &[usize]) -> Result<usize, twenty_client::Error> {
            let range = batch[0]..batch[batch.len() - 1] + 1;
            self.sent.lock().unwrap().push(range);
            if batch.len() > self.cap || batch.iter().any(|i| self.refused.contains(i)) {
                return Err(twenty_client::Error::new(
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

    async fn isolate(
        twenty: &Twenty,
        n: usize,
        size: usize,
        split: Split,
    ) -> Result<Settled<usize>, SyncError> {
        let items: Vec<usize> = (0..n).collect();
        let items = items.as_slice();
        let settled = send_isolating("people", Write::Create, items, size, split, |b| {
            twenty.send(b)
        })
        .await?;
        // Every item is settled once: in an accepted batch or left alone.
        let mut seen: Vec<usize> = settled
            .accepted
            .iter()
            .flat_map(|(range, _)| range.clone())
            .chain(settled.alone.iter().copied())
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..n).collect::<Vec<_>>());
        Ok(settled)
    }

    #[tokio::test]
    async fn accepted_batches_are_sent_once_each() {
        let twenty = Twenty::new([], usize::MAX);
        let settled = isolate(&twenty, 130, 60, Split::WhileSparse).await.unwrap();
        assert_eq!(
            settled
                .accepted
                .iter()
                .map(|(r, n)| (r.clone(), *n))
                .collect::<Vec<_>>(),
            [(0..60, 60), (60..120, 60), (120..130, 10)]
        );
        assert!(settled.alone.is_empty());
        assert_eq!(twenty.requests(), 3);
    }

    #[tokio::test]
    async fn one_refused_record_among_sixty_is_found_in_a_dozen_requests() {
        for bad in [0, 17, 59] {
            let twenty = Twenty::new([bad], usize::MAX);
            let settled = isolate(&twenty, 60, 60, Split::WhileSparse).await.unwrap();
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
        let settled = isolate(&twenty, 60, 60, Split::WhileSparse).await.unwrap();
        assert_eq!(settled.alone, (0..60).collect::<Vec<_>>());
        assert!(settled.accepted.is_empty());
        assert_eq!(twenty.requests(), 3);
        // Halving on regardless would have sent about two requests per record.
        let twenty = Twenty::new(0..60, usize::MAX);
        let settled = isolate(&twenty, 60, 60, Split::Halves).await.unwrap();
        assert_eq!(settled.alone.len(), 60);
        assert!(twenty.requests() > 40, "{} requests", twenty.requests());
    }

    #[tokio::test]
    async fn a_batch_over_twentys_cap_is_halved_until_it_fits() {
        let twenty = Twenty::new([], 12);
        let settled = isolate(&twenty, 100, 100, Split::Halves).await.unwrap();
        assert!(settled.alone.is_empty(), "{settled:?}");
        assert!(settled.accepted.iter().all(|(r, _)| r.len() <= 12));
        // 100, then 50 + 50, then four of 25, then eight of 12-13: the 12s go through and the
        // 13s are halved once more.
        assert!(twenty.requests() < 30, "{} requests", twenty.requests());
        // Stopping where both halves are rejected would leave them all one by one.
        let twenty = Twenty::new([], 12);
        let settled = isolate(&twenty, 100, 100, Split::WhileSparse)
            .await
            .unwrap();
        assert_eq!(settled.alone.len(), 100);
    }

    #[tokio::test]
    async fn a_failure_not_about_the_records_stops_at_once() {
        let items = [1, 2, 3];
        let err = send_isolating(
            "people",
            Write::Update,
            &items,
            2,
            Split::Halves,
            |_| async {
                Err::<(), _>(twenty_client::Error::new(
                    ErrorKind::Unauthorized,
                    "the API key was revoked",
                ))
            },
        )
        .await
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("updating 2 record(s) in Twenty"), "{text}");
        assert!(text.contains("revoked"), "{text}");
    }
}
