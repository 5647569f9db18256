//! Cooperative scheduling: with the `tokio` feature, the waiting operations take part in
//! tokio's task budget, as tokio's own channels do.
//!
//! A task that loops on `recv().await` over a channel that never runs dry is never made
//! to yield by the channel: each `recv` is ready at once. On tokio's current-thread
//! runtime that starves every other task (timers, a `/metrics` handler) for as long as
//! the loop runs. tokio's own resources spend one unit of a per-task budget (128) per
//! ready operation and return `Pending` (waking the task first) once it is spent, so
//! the scheduler gets control back. With the feature, `recv`, `send`, `reserve`,
//! `reserve_many`, the stream, `PollSender::poll_reserve` and `acquire` do the same
//! through `tokio::task::coop::poll_proceed` (public since tokio 1.47).
//!
//! Outside a tokio runtime the budget is unconstrained, so other executors see no
//! change. Without the feature this module compiles to nothing.
//!
//! Returning `Pending` for the budget happens before the operation is tried, so it
//! changes no cancel-safety guarantee: nothing was taken or sent.

use core::task::{Context, Poll};

/// One unit of the task's budget, taken before an operation is tried: call
/// [`made_progress`](Budget::made_progress) if the operation completed, or the unit is
/// given back when this is dropped.
pub(crate) struct Budget {
    #[cfg(feature = "tokio")]
    inner: tokio::task::coop::RestoreOnPending,
}

impl Budget {
    #[inline(always)]
    pub(crate) fn made_progress(&self) {
        #[cfg(feature = "tokio")]
        self.inner.made_progress();
    }
}

/// `Pending` (with the task woken to run again later) if the task's tokio budget is
/// spent; always `Ready` without the `tokio` feature or outside a tokio runtime.
#[inline(always)]
pub(crate) fn poll_budget(cx: &mut Context<'_>) -> Poll<Budget> {
    #[cfg(feature = "tokio")]
    {
        tokio::task::coop::poll_proceed(cx).map(|inner| Budget { inner })
    }
    #[cfg(not(feature = "tokio"))]
    {
        let _ = cx;
        Poll::Ready(Budget {})
    }
}

/// Polls `op` within the budget: takes a unit first, keeps it if `op` is ready.
#[inline(always)]
pub(crate) fn budgeted<R>(
    cx: &mut Context<'_>,
    op: impl FnOnce(&mut Context<'_>) -> Poll<R>,
) -> Poll<R> {
    let budget = core::task::ready!(poll_budget(cx));
    let poll = op(cx);
    if poll.is_ready() {
        budget.made_progress();
    }
    poll
}
