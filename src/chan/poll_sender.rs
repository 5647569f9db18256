//! A sender for hand-written futures and `poll`-based code: `poll_reserve`.

use super::error::SendError;
use super::future::Permit;
use super::sender::Sender;
use super::Chan;
use crate::storage::ChannelRef;
use crate::wait::{State, Waiter};
use core::pin::Pin;
use core::task::{Context, Poll};

/// What `poll_reserve` gives when ready.
type ReserveResult<'a, T> = Result<Permit<'a, T>, SendError<()>>;

/// A [`Sender`] with its own wait-list node, so it can wait across calls of
/// [`poll_reserve`](PollSender::poll_reserve) — for hand-written futures, `Sink`-like
/// adapters and state machines. Made by [`Sender::into_poll_sender`].
///
/// It embeds its wait-list node, so it is `!Unpin`: pin it (`pin!`, `Box::pin`) first.
/// Waiting allocates nothing.
///
/// ```
/// use core::future::poll_fn;
/// # futures::executor::block_on(async {
/// let (tx, rx) = sluicebox::bounded::<u32>(1);
/// let mut tx = core::pin::pin!(tx.into_poll_sender());
/// let permit = poll_fn(|cx| tx.as_mut().poll_reserve(cx).map(|r| r.map(drop))).await;
/// assert!(permit.is_ok());
/// // `poll_reserve` hands out a permit borrowed from the pinned sender.
/// let mut once = false;
/// poll_fn(|cx| {
///     let permit = core::task::ready!(tx.as_mut().poll_reserve(cx)).unwrap();
///     permit.send(7);
///     once = true;
///     core::task::Poll::Ready(())
/// })
/// .await;
/// assert!(once);
/// assert_eq!(rx.recv().await, Some(7));
/// # });
/// ```
#[must_use = "a PollSender does nothing unless polled"]
pub struct PollSender<T, R: ChannelRef<T>> {
    tx: Sender<T, R>,
    /// Lives as long as the sender, so a wait can span polls.
    waiter: Waiter,
}

impl<T, R: ChannelRef<T>> Sender<T, R> {
    /// This sender, able to wait across [`poll_reserve`](PollSender::poll_reserve) calls.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(1);
    /// let tx = tx.into_poll_sender().into_inner();
    /// assert!(tx.try_send(1).is_ok());
    /// ```
    pub fn into_poll_sender(self) -> PollSender<T, R> {
        PollSender {
            tx: self,
            waiter: Waiter::new(),
        }
    }
}

impl<T, R: ChannelRef<T>> PollSender<T, R> {
    /// Polls for a free slot: `Ready(Ok(permit))` with the slot reserved, `Ready(Err(_))`
    /// if the channel is closed, or `Pending` with this task queued (in FIFO order with
    /// the other waiting senders) to be woken when a slot frees up.
    ///
    /// The permit borrows this sender: send with it (or drop it) before the next poll.
    ///
    /// # Cancel safety
    ///
    /// Nothing is yours until `Ready(Ok(_))`. Dropping the `PollSender` while it waits
    /// unqueues it; if it had been woken, the wakeup (and the room handed to it) goes to
    /// the next waiting sender, or back to the channel.
    ///
    /// A `PollSender` that returned `Pending` stays queued (and, once woken, holds its
    /// wakeup and the room handed to it) until it is polled again or dropped: if the
    /// caller stops polling it for a while (e.g. it lost a `select`), other waiting
    /// senders can wait behind it. Poll it again or drop it; don't leave a pending
    /// `PollSender` idle.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the channel is closed (every receiver is gone, or `close`).
    pub fn poll_reserve<'a>(
        self: Pin<&'a mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<ReserveResult<'a, T>> {
        // SAFETY: `waiter` is never moved out of the pinned `PollSender`; `tx` is not
        // structurally pinned and only read.
        let this: &'a Self = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&this.waiter) };
        super::future::poll_reserve(this.tx.chan.chan(), waiter, cx)
    }

    /// The sender back. Only possible before the `PollSender` is pinned, so it never
    /// waited.
    pub fn into_inner(self) -> Sender<T, R> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: we have `self` by value and it is `!Unpin`, so it was never pinned and
        // its waiter never registered; we move `tx` out once and forget the rest (an
        // unregistered waiter owns nothing).
        unsafe { core::ptr::read(&this.tx) }
    }

    /// The sender inside.
    pub fn get_ref(&self) -> &Sender<T, R> {
        &self.tx
    }

    /// Withdraws a pending reservation: if the last [`poll_reserve`] returned `Pending`,
    /// this sender leaves the queue of waiting senders, and a wakeup it received but has
    /// not used — with any room handed to it — goes to the next waiting sender, as if
    /// the `PollSender` were dropped. Returns whether there was a wait to withdraw
    /// (tokio-util's `PollSender::abort_send`). The next `poll_reserve` starts afresh, at
    /// the back of the queue. A withdrawn wait counts in
    /// [`Stats::abandoned`](crate::Stats::abandoned).
    ///
    /// Call it when the sender will not be polled for a while (it lost a `select!`),
    /// so it does not hold up the senders behind it.
    ///
    /// [`poll_reserve`]: PollSender::poll_reserve
    ///
    /// ```
    /// use core::task::{Context, Poll, Waker};
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// tx.try_send(1).unwrap(); // full
    /// let mut poll_tx = core::pin::pin!(tx.clone().into_poll_sender());
    /// let mut cx = Context::from_waker(Waker::noop());
    /// assert!(poll_tx.as_mut().poll_reserve(&mut cx).is_pending());
    /// assert!(poll_tx.as_mut().abort_send()); // leaves the queue
    /// assert!(!poll_tx.as_mut().abort_send()); // nothing left to withdraw
    /// assert_eq!(tx.stats().abandoned, 1);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// // Polled again, it queues afresh and gets the room.
    /// assert!(poll_tx.as_mut().poll_reserve(&mut cx).is_ready());
    /// ```
    pub fn abort_send(self: Pin<&mut Self>) -> bool {
        // SAFETY: `waiter` is never moved out of the pinned `PollSender`.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&this.waiter) };
        withdraw(this.tx.chan.chan(), waiter)
    }
}

impl<T, R: ChannelRef<T>> Drop for PollSender<T, R> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs before the pinned memory is reused; the waiter is not moved.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        withdraw(self.tx.chan.chan(), waiter);
    }
}

/// Ends a `PollSender`'s wait, if it has one: leaves the queue, hands a wakeup (and room
/// reserved for it) on, and counts the wait as abandoned. Returns whether it waited.
fn withdraw<T>(chan: Chan<'_, T>, waiter: Pin<&Waiter>) -> bool {
    let waited = waiter.state() != State::Idle;
    super::future::drop_sending_waiter(chan, waiter);
    waited
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for PollSender<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PollSender").field("tx", &self.tx).finish()
    }
}
