//! Delivery acknowledgements.
//!
//! A receiver that wants to know the fate of a payload creates an [`AckToken`] with
//! [`AckToken::new`] and keeps the [`AckWaiter`]. The token travels with the payload
//! (inside [`Acks`]); every copy made for fan-out, batching or splitting clones it (a
//! reference count). When the last copy is dropped the outcome is sent to the waiter:
//!
//! - `Ok(())` when no copy recorded a failure: every branch exported the data, durably queued
//!   it, or decided on purpose not to keep it (sampling, filtering);
//! - the first recorded [`Failure`] otherwise — a failure on any branch wins.
//!
//! Dropping a token is therefore the normal way to acknowledge; a stage that loses data must
//! call [`Acks::fail`] before dropping. The outcome is sent once (claim-once), however many
//! copies race.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// Why a payload was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// What went wrong; a static string where possible, so refusing on a hot path does not allocate.
    pub message: Cow<'static, str>,
    /// Whether sending the same data again may succeed.
    pub retryable: bool,
    /// A delay the sender should wait before retrying, when known.
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn retryable(message: impl Into<Cow<'static, str>>) -> Self {
        Failure { message: message.into(), retryable: true, retry_after: None }
    }
    pub fn permanent(message: impl Into<Cow<'static, str>>) -> Self {
        Failure { message: message.into(), retryable: false, retry_after: None }
    }
    pub fn with_retry_after(mut self, d: Duration) -> Self {
        self.retry_after = Some(d);
        self
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

struct AckState {
    failure: Mutex<Option<Failure>>,
    tx: Mutex<Option<oneshot::Sender<Result<(), Failure>>>>,
}

impl Drop for AckState {
    fn drop(&mut self) {
        let failure = self.failure.get_mut().map(Option::take).unwrap_or_default();
        if let Some(tx) = self.tx.get_mut().ok().and_then(Option::take) {
            let _ = tx.send(failure.map_or(Ok(()), Err));
        }
    }
}

/// One receiver request's share of the delivery outcome. Cloning is a reference count.
#[derive(Clone)]
pub struct AckToken(Arc<AckState>);

/// Resolves when every copy of the matching [`AckToken`] is gone.
pub struct AckWaiter(oneshot::Receiver<Result<(), Failure>>);

impl AckToken {
    pub fn new() -> (AckToken, AckWaiter) {
        let (tx, rx) = oneshot::channel();
        let state = AckState { failure: Mutex::new(None), tx: Mutex::new(Some(tx)) };
        (AckToken(Arc::new(state)), AckWaiter(rx))
    }

    /// Records a failure; the first one recorded is the one reported.
    pub fn fail(&self, failure: &Failure) {
        if let Ok(mut f) = self.0.failure.lock() {
            if f.is_none() {
                *f = Some(failure.clone());
            }
        }
    }
}

impl AckWaiter {
    /// The outcome. A token dropped without any failure is a success.
    pub async fn wait(self) -> Result<(), Failure> {
        // The sender is only dropped unsent if the state's mutex was poisoned by a panic:
        // report that as a retryable failure rather than a success.
        self.0.await.unwrap_or_else(|_| Err(Failure::retryable("internal error while tracking delivery")))
    }
}

/// The tokens a payload carries: one per receiver request merged into it.
#[derive(Clone, Default)]
pub struct Acks(Vec<AckToken>);

impl Acks {
    pub fn none() -> Self {
        Acks(Vec::new())
    }

    pub fn one(token: AckToken) -> Self {
        Acks(vec![token])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Takes over the tokens of `other` (used when payloads are merged).
    pub fn extend(&mut self, other: Acks) {
        self.0.extend(other.0);
    }

    /// Records `failure` on every token; the tokens are released when `self` is dropped.
    pub fn fail(&self, failure: &Failure) {
        for t in &self.0 {
            t.fail(failure);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn last_copy_dropped_resolves_success() {
        let (t, w) = AckToken::new();
        let a = Acks::one(t);
        let b = a.clone();
        drop(a);
        drop(b);
        assert_eq!(w.wait().await, Ok(()));
    }

    #[tokio::test]
    async fn failure_on_any_branch_wins() {
        let (t, w) = AckToken::new();
        let a = Acks::one(t);
        let b = a.clone();
        b.fail(&Failure::retryable("exporter down"));
        drop(b);
        drop(a);
        assert_eq!(w.wait().await.unwrap_err().message, "exporter down");
    }

    #[tokio::test]
    async fn first_failure_is_reported() {
        let (t, w) = AckToken::new();
        let a = Acks::one(t);
        a.fail(&Failure::permanent("first"));
        a.fail(&Failure::retryable("second"));
        drop(a);
        let f = w.wait().await.unwrap_err();
        assert_eq!(f.message, "first");
        assert!(!f.retryable);
    }

    #[tokio::test]
    async fn outcome_waits_for_every_copy() {
        let (t, w) = AckToken::new();
        let a = Acks::one(t);
        let b = a.clone();
        drop(a);
        let mut w = Box::pin(w.wait());
        assert!(futures::poll!(&mut w).is_pending());
        drop(b);
        assert_eq!(w.await, Ok(()));
    }
}
