//! A chunk's batches of one kind of write, through the client's isolating batches
//! ([`twenty_client::records::send_isolating`]): all at once, and a batch Twenty rejects again as
//! its halves, to find the records Twenty refuses in a few requests instead of one per record of
//! the batch. This module names the write in the run's error and logs.

use std::future::Future;

pub(super) use twenty_client::records::{Settled, Split};

use super::SyncError;

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

/// Sends `items` as [`twenty_client::records::send_isolating`] does. A failure that is not about
/// the records sent ([`twenty_client::Error::is_record_level`]) is the run's error for `write`
/// on the entity; the batches Twenty rejected are logged once, as a warning.
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
    let settled = twenty_client::records::send_isolating(items, size, split, send)
        .await
        .map_err(|e| {
            SyncError::from_twenty(&format!("{} {entity} records in Twenty", write.doing()), e)
        })?;
    if settled.rejected > 0 {
        tracing::warn!(
            entity,
            rejected = settled.rejected,
            left_alone = settled.alone.len(),
            "batch {}s rejected; isolated the records Twenty refuses",
            write.noun()
        );
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use twenty_client::ErrorKind;

    use super::*;

    #[tokio::test]
    async fn a_failure_not_about_the_records_is_the_runs_error_for_the_write() {
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
        assert!(text.contains("updating people records in Twenty"), "{text}");
        assert!(text.contains("revoked"), "{text}");
        assert!(text.contains("0..2"), "{text}");
    }

    #[tokio::test]
    async fn refused_records_are_left_alone_and_the_rest_accepted() {
        let items: Vec<usize> = (0..20).collect();
        let settled = send_isolating(
            "people",
            Write::Create,
            &items,
            10,
            Split::WhileSparse,
            |batch| async move {
                if batch.contains(&13) {
                    Err(twenty_client::Error::new(
                        ErrorKind::Validation { messages: vec![] },
                        "refused",
                    ))
                } else {
                    Ok(batch.len())
                }
            },
        )
        .await
        .unwrap();
        assert!(settled.alone.contains(&13), "{settled:?}");
        let accepted: usize = settled.accepted.iter().map(|(_, n)| n).sum();
        assert_eq!(accepted + settled.alone.len(), 20);
    }
}
