//! Group commit of issued certificates.
//!
//! Every issuance is durable before [`CertificateAuthority::issue`](super::CertificateAuthority::issue)
//! returns, but concurrent issuances share commits: the first caller to reach the commit
//! slot records everything queued so far in one transaction (one fsync on SQLite, one WAL
//! flush on PostgreSQL) while later callers queue for the next batch. Nothing waits on a
//! timer: a lone caller commits at once. The commit runs in its own task, so a caller that
//! goes away mid-commit does not interrupt the others' batch.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use crate::domain::Actor;
use crate::error::{Error, Result};
use crate::storage::{NewCertificate, RequestId, Store};

struct Pending {
    item: (NewCertificate, Option<RequestId>, Actor),
    reply: oneshot::Sender<Result<()>>,
}

#[derive(Default)]
pub(crate) struct GroupCommit {
    pending: Mutex<Vec<Pending>>,
    slot: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for GroupCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

fn poisoned() -> Error {
    Error::Task("group commit queue lock poisoned".into())
}

impl GroupCommit {
    /// Records one certificate; returns once it is committed (or refused).
    pub async fn record(
        &self,
        store: &Store,
        cert: NewCertificate,
        request: Option<RequestId>,
        actor: Actor,
    ) -> Result<()> {
        let (reply, done) = oneshot::channel();
        self.pending.lock().map_err(|_| poisoned())?.push(Pending {
            item: (cert, request, actor),
            reply,
        });
        let slot = self.slot.clone().lock_owned().await;
        let batch = std::mem::take(&mut *self.pending.lock().map_err(|_| poisoned())?);
        if batch.is_empty() {
            // An earlier holder of the slot took (and committed) our certificate.
            drop(slot);
        } else {
            let store = store.clone();
            let task = tokio::spawn(async move {
                let _slot = slot;
                let (items, replies): (Vec<_>, Vec<_>) =
                    batch.into_iter().map(|p| (p.item, p.reply)).unzip();
                let results = store.record_issued_certificates(&items).await;
                for (reply, result) in replies.into_iter().zip(results) {
                    // The caller may have gone away; its certificate is recorded anyway.
                    let _ = reply.send(result);
                }
            });
            task.await
                .map_err(|e| Error::Task(format!("commit task failed: {e}")))?;
        }
        done.await
            .map_err(|_| Error::Task("the commit of this certificate was abandoned".into()))?
    }
}
