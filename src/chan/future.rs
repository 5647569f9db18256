//! The channel's futures: `send`, `recv`, `reserve` (and its `Permit`), `closed`.
//!
//! Each future embeds a [`Waiter`]: waiting allocates nothing. Every future does one
//! thing in `poll` — `WaitList::poll_op` with its operation — and unregisters its waiter
//! in `Drop`, which hands on a wakeup it received but did not use. The second closure
//! given to `poll_op` says whether anything is left for the next waiter (wait-list
//! invariant 3a).
//!
//! `send` and `recv` first try their immediate operation when the waiter is fresh (never
//! registered, no notification, no baton). That try is `poll_op`'s first attempt: success
//! returns at once, and a plain Full/Empty tells `poll_op` to go straight on to
//! registering.
//!
//! A waiting `send` or `reserve` may be woken with room already reserved for it (a grant,
//! wait-list invariant 6): its operation then completes with that reservation, and a
//! future dropped with an unused grant hands it on or gives it back (`Chan::give_back`).

use super::error::SendError;
use super::Chan;
use crate::ring::{Claim, PopError, PushError};
#[cfg(feature = "std")]
use crate::wait::{Beacon, State, WaitList};
use crate::wait::{Blocked, Waiter, WakeRef};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// The waiter of a pinned future, and the list it waits on.
///
/// # Safety (for the futures below)
/// The futures are `!Unpin` (through `Waiter`); they never move `waiter` once pinned, and
/// they unregister it in `Drop`, which for a pinned value runs before its memory is
/// reused. So a linked node is always alive.
macro_rules! pinned_waiter {
    ($pinned:ident => $this:ident, $waiter:ident) => {
        // SAFETY: we only project to `waiter` (never moved; see the module's safety note)
        // and to plain fields that are not structurally pinned.
        let $this = unsafe { $pinned.get_unchecked_mut() };
        // SAFETY: `waiter` is inside a pinned future and never moved out.
        let $waiter = unsafe { Pin::new_unchecked(&$this.waiter) };
    };
}

/// Future of [`Sender::send`](crate::Sender::send).
#[must_use = "futures do nothing unless polled"]
pub struct SendFuture<'a, T> {
    chan: Chan<'a, T>,
    value: Option<T>,
    waiter: Waiter,
}

impl<'a, T> SendFuture<'a, T> {
    pub(crate) fn new(chan: Chan<'a, T>, value: T) -> Self {
        Self {
            chan,
            value: Some(value),
            waiter: Waiter::new(),
        }
    }
}

/// The `send` operation, shared by the future and `send_blocking`. `granted`: room was
/// reserved for it by the notifier that woke it.
pub(crate) fn send_op<T>(
    chan: Chan<'_, T>,
    slot: &mut Option<T>,
    granted: bool,
) -> Result<Result<(), SendError<T>>, Blocked> {
    let value = slot
        .take()
        .expect("sluicebox: send future polled after it completed");
    if granted {
        // SAFETY: the grant is a reservation made for this waiter, consumed once: here.
        unsafe { chan.send_reserved(value) };
        return Ok(Ok(()));
    }
    match chan.push_waiting(value) {
        Ok(()) => Ok(Ok(())),
        Err(PushError::Closed(v)) => Ok(Err(SendError(v))),
        Err(PushError::Full(v)) => {
            *slot = Some(v);
            Err(Blocked::Empty)
        }
        Err(PushError::InFlight(v)) => {
            *slot = Some(v);
            Err(Blocked::Busy)
        }
    }
}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        pinned_waiter!(self => this, waiter);
        let chan = this.chan;
        let value = &mut this.value;
        crate::coop::budgeted(cx, |cx| send_poll(chan, value, waiter, cx))
    }
}

/// One step of `SendFuture::poll`, within the task's budget.
#[inline(always)]
fn send_poll<T>(
    chan: Chan<'_, T>,
    value: &mut Option<T>,
    waiter: Pin<&Waiter>,
    cx: &mut Context<'_>,
) -> Poll<Result<(), SendError<T>>> {
    // Fast path: for a fresh waiter, a first try that succeeds is all `poll_op` would
    // do (nothing to consume before, nothing to unregister after). One that finds the
    // channel full is `poll_op`'s first attempt failing: it goes on from there. A slot
    // in flight goes to `poll_op` whole (with `std` its attempt waits the slot out).
    let mut tried = false;
    if waiter.is_fresh() {
        let v = value
            .take()
            .expect("sluicebox: send future polled after it completed");
        match chan.push(v) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(PushError::Closed(v)) => return Poll::Ready(Err(SendError(v))),
            Err(PushError::Full(v)) => {
                *value = Some(v);
                tried = true;
            }
            Err(PushError::InFlight(v)) => *value = Some(v),
        }
    }
    chan.send_waiters.poll_op(
        waiter,
        WakeRef::Task(cx.waker()),
        tried,
        |granted| send_op(chan, value, granted),
        || chan.space_left(),
        &chan.send_beacon(),
        // SAFETY: an unused grant is a reservation made for this waiter.
        || unsafe { chan.give_back() },
    )
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs on the pinned future before its memory is reused; the waiter
        // is not moved.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        drop_sending_waiter(self.chan, waiter);
    }
}

/// Unregisters a sending future's waiter in its `Drop`: an unused grant goes on (or
/// back), and a wait given up counts in `Stats::abandoned` (a future that completed, or
/// never waited, is `Idle`: only one that is queued, or was woken and not polled since,
/// gives up a wait).
#[inline(always)]
pub(crate) fn drop_sending_waiter<T>(chan: Chan<'_, T>, waiter: Pin<&Waiter>) {
    chan.send_waiters.unregister_abandoning(
        waiter,
        || chan.space_left(),
        // SAFETY: an unused grant is a reservation made for this waiter.
        || unsafe { chan.give_back() },
        || chan.count_abandoned(),
    );
}

/// Future of [`Receiver::recv`](crate::Receiver::recv).
#[must_use = "futures do nothing unless polled"]
pub struct RecvFuture<'a, T> {
    chan: Chan<'a, T>,
    waiter: Waiter,
}

impl<'a, T> RecvFuture<'a, T> {
    pub(crate) fn new(chan: Chan<'a, T>) -> Self {
        Self {
            chan,
            waiter: Waiter::new(),
        }
    }
}

/// The `recv` operation: `Ok(Some(item))`, `Ok(None)` at the end, `Err` to wait.
pub(crate) fn recv_op<T>(chan: Chan<'_, T>) -> Result<Option<T>, Blocked> {
    match chan.pop_waiting() {
        Ok(v) => Ok(Some(v)),
        Err(PopError::Closed) => Ok(None),
        Err(PopError::Empty) => Err(Blocked::Empty),
        Err(PopError::InFlight) => Err(Blocked::Busy),
    }
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        pinned_waiter!(self => this, waiter);
        poll_recv(this.chan, waiter, cx)
    }
}

/// One step of waiting for an item, within the task's budget: shared by `RecvFuture`
/// and `RecvStream::poll_recv`.
#[inline(always)]
pub(crate) fn poll_recv<T>(
    chan: Chan<'_, T>,
    waiter: Pin<&Waiter>,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    crate::coop::budgeted(cx, |cx| poll_recv_op(chan, waiter, cx))
}

#[inline(always)]
fn poll_recv_op<T>(
    chan: Chan<'_, T>,
    waiter: Pin<&Waiter>,
    cx: &mut Context<'_>,
) -> Poll<Option<T>> {
    // Fast path, as in `SendFuture::poll`: Empty is a failed first attempt; a slot in
    // flight goes to `poll_op` whole (`recv_op` reports it as `Busy`, which makes the
    // waiter a baton carrier).
    let mut tried = false;
    if waiter.is_fresh() {
        match chan.pop() {
            Ok(v) => return Poll::Ready(Some(v)),
            Err(PopError::Closed) => return Poll::Ready(None),
            Err(PopError::Empty) => tried = true,
            Err(PopError::InFlight) => {}
        }
    }
    chan.recv_waiters.poll_op(
        waiter,
        WakeRef::Task(cx.waker()),
        tried,
        |_| recv_op(chan),
        || chan.items_left(),
        &chan.recv_beacon(),
        || {},
    )
}

impl<T> Drop for RecvFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: as in `SendFuture::drop`.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        let chan = self.chan;
        chan.recv_waiters.unregister(waiter, || chan.items_left());
    }
}

/// Future of [`Sender::reserve`](crate::Sender::reserve).
#[must_use = "futures do nothing unless polled"]
pub struct ReserveFuture<'a, T> {
    chan: Chan<'a, T>,
    waiter: Waiter,
}

impl<'a, T> ReserveFuture<'a, T> {
    pub(crate) fn new(chan: Chan<'a, T>) -> Self {
        Self {
            chan,
            waiter: Waiter::new(),
        }
    }
}

impl<'a, T> Future for ReserveFuture<'a, T> {
    type Output = Result<Permit<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        pinned_waiter!(self => this, waiter);
        poll_reserve(this.chan, waiter, cx)
    }
}

/// One step of waiting for room to reserve, within the task's budget: shared by
/// `ReserveFuture` and `PollSender::poll_reserve`.
pub(crate) fn poll_reserve<'a, T>(
    chan: Chan<'a, T>,
    waiter: Pin<&Waiter>,
    cx: &mut Context<'_>,
) -> Poll<Result<Permit<'a, T>, SendError<()>>> {
    crate::coop::budgeted(cx, |cx| poll_reserve_op(chan, waiter, cx))
}

fn poll_reserve_op<'a, T>(
    chan: Chan<'a, T>,
    waiter: Pin<&Waiter>,
    cx: &mut Context<'_>,
) -> Poll<Result<Permit<'a, T>, SendError<()>>> {
    chan.send_waiters.poll_op(
        waiter,
        WakeRef::Task(cx.waker()),
        false,
        // A grant is room reserved for us: it becomes the permit.
        |granted| match if granted {
            Ok(())
        } else {
            chan.reserve_waiting()
        } {
            Ok(()) => Ok(Ok(Permit::new(chan))),
            Err(Claim::Closed) => Ok(Err(SendError(()))),
            Err(Claim::Full) => Err(Blocked::Empty),
            Err(Claim::InFlight) => Err(Blocked::Busy),
        },
        || chan.space_left(),
        &chan.send_beacon(),
        // SAFETY: an unused grant is a reservation made for this waiter.
        || unsafe { chan.give_back() },
    )
}

impl<T> Drop for ReserveFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: as in `SendFuture::drop`.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        drop_sending_waiter(self.chan, waiter);
    }
}

/// Room reserved in the channel: [`send`](Permit::send) cannot fail. Made by
/// [`Sender::reserve`](crate::Sender::reserve) and
/// [`Sender::try_reserve`](crate::Sender::try_reserve).
///
/// A permit holds *room*, not a place in line: while it is held the channel takes one
/// item fewer, and nobody else can take that room, but receivers go on taking every item
/// that is ready. The permit's item enters the queue when it is sent, behind everything
/// sent before it. So the common pattern of reserving first and building the item
/// afterwards (a read, a parse, a query) holds up no receiver:
///
/// ```
/// # futures::executor::block_on(async {
/// let (tx, rx) = sluicebox::bounded(2);
/// let permit = tx.reserve().await.unwrap(); // room for one, taken now
/// tx.try_send("sent after the reservation").unwrap();
/// assert!(tx.try_send("no room").unwrap_err().is_full());
/// // The receiver is not held up by the permit.
/// assert_eq!(rx.recv().await, Some("sent after the reservation"));
/// permit.send("built slowly");
/// assert_eq!(rx.recv().await, Some("built slowly"));
/// # });
/// ```
///
/// Dropping a permit unused gives its room back at once and wakes a waiting sender.
/// After the channel is closed, receivers still wait for the permits that are out: an
/// empty closed channel reports its end once every permit is sent or dropped. If every
/// receiver is gone when the permit sends, the value is dropped at once (PITFALLS
/// `permit-after-close`).
///
/// A permit that is `mem::forget`-ten keeps its room, as a forgotten
/// [`SemaphorePermit`](crate::SemaphorePermit) does, until the last sender is dropped
/// (every permit borrows a sender, so the room of any permit still out then is given
/// back). Until then, receivers of a channel closed with `close()` wait for it: a
/// closed channel reports its end once no permit is out.
#[must_use = "a permit holds room in the channel until it is used or dropped"]
pub struct Permit<'a, T> {
    /// One reservation of this channel's, sent or given back exactly once: by `send` or
    /// by `drop`.
    chan: Chan<'a, T>,
}

impl<'a, T> Permit<'a, T> {
    /// A permit for a reservation just made on `chan`.
    pub(crate) fn new(chan: Chan<'a, T>) -> Self {
        Self { chan }
    }

    /// Sends `value` with the reserved room. It queues behind every item sent before.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(1);
    /// let permit = tx.reserve().await.unwrap();
    /// assert!(tx.try_send(0).unwrap_err().is_full()); // the room is taken
    /// permit.send(1);
    /// assert_eq!(rx.recv().await, Some(1));
    /// # });
    /// ```
    pub fn send(self, value: T) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the permit owns one reservation and consumes it once: here, with `drop`
        // disabled by `ManuallyDrop`.
        unsafe { this.chan.send_reserved(value) };
    }
}

impl<T> Drop for Permit<'_, T> {
    fn drop(&mut self) {
        // SAFETY: the permit owns one reservation, not consumed (`send` forgets the
        // permit), so this is its one use.
        unsafe { self.chan.give_back() };
    }
}

impl<T> fmt::Debug for Permit<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit").finish_non_exhaustive()
    }
}

/// Future of [`Sender::closed`](crate::Sender::closed).
#[must_use = "futures do nothing unless polled"]
pub struct ClosedFuture<'a, T> {
    chan: Chan<'a, T>,
    waiter: Waiter,
}

impl<'a, T> ClosedFuture<'a, T> {
    pub(crate) fn new(chan: Chan<'a, T>) -> Self {
        Self {
            chan,
            waiter: Waiter::new(),
        }
    }
}

impl<T> Future for ClosedFuture<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        pinned_waiter!(self => this, waiter);
        let chan = this.chan;
        chan.close_waiters.poll_op(
            waiter,
            WakeRef::Task(cx.waker()),
            false,
            |_| chan.is_closed().then_some(()).ok_or(Blocked::Empty),
            || false,
            &(),
            || {},
        )
    }
}

impl<T> Drop for ClosedFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: as in `SendFuture::drop`.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        self.chan.close_waiters.unregister(waiter, || false);
    }
}

macro_rules! debug_future {
    ($($name:ident),*) => {$(
        impl<T> fmt::Debug for $name<'_, T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).finish_non_exhaustive()
            }
        }
    )*};
}
debug_future!(SendFuture, RecvFuture, ReserveFuture, ClosedFuture);

/// Runs `op` to completion on the current thread, parking it while `op` must wait, until
/// `deadline` if there is one: then `None`, with the wait withdrawn (a wakeup or a grant
/// it received goes on, as for a dropped future). `op(true)` completes with a grant;
/// `release` gives an unused one back (see `WaitList::poll_op`).
#[cfg(feature = "std")]
pub(crate) fn block_on_op<R>(
    list: &WaitList,
    mut op: impl FnMut(bool) -> Result<R, Blocked>,
    more: impl Fn() -> bool,
    beacon: &impl Beacon,
    release: impl Fn(),
    deadline: Option<std::time::Instant>,
) -> Option<R> {
    // Spin (then yield) briefly before parking: waking a parked thread costs 1-40 us (an
    // idle virtual CPU must be woken), while the other side usually frees a slot within
    // a few hundred ns. Measured (benches/channels.rs, 2-core VM): blocking SPSC cap 1
    // went from 46.5 us to ~0.4 us per message. Until we register this is the same as
    // calling `try_*` in a loop, so FIFO among parked waiters is unchanged.
    //
    // Not under loom: there each backoff step is a yield to the other threads, which then
    // finish first, so the models would never reach the park path below. The spin is only
    // `op()` called in a loop, which the try-API models cover.
    #[cfg(not(loom))]
    {
        let backoff = crate::loom::Backoff::new();
        loop {
            if let Ok(r) = op(false) {
                return Some(r);
            }
            if backoff.is_completed() {
                break;
            }
            backoff.snooze();
        }
    }
    struct Unregister<'a, M: Fn() -> bool, G: Fn()> {
        list: &'a WaitList,
        waiter: Pin<&'a Waiter>,
        more: &'a M,
        release: &'a G,
    }
    impl<M: Fn() -> bool, G: Fn()> Drop for Unregister<'_, M, G> {
        fn drop(&mut self) {
            self.list
                .unregister_granting(self.waiter, self.more, self.release);
        }
    }
    let waiter = core::pin::pin!(Waiter::new());
    let waiter = waiter.as_ref();
    let _guard = Unregister {
        list,
        waiter,
        more: &more,
        release: &release,
    };
    let thread = crate::loom::current_thread();
    loop {
        match list.poll_op(
            waiter,
            WakeRef::Thread(&thread),
            false,
            &mut op,
            &more,
            beacon,
            &release,
        ) {
            Poll::Ready(r) => return Some(r),
            // Park only while still queued. A notification that came while we were
            // still running is seen here (`Notified` is stored before the unpark), so it
            // does not depend on the unpark token alone: loom drops the token of a
            // thread caught mid-yield (std keeps it). A spurious unpark just polls again.
            Poll::Pending => {
                if waiter.state() == State::Queued {
                    match deadline {
                        None => crate::loom::park(),
                        Some(deadline) => {
                            let now = std::time::Instant::now();
                            if now >= deadline {
                                // `_guard` withdraws the wait; a notification that
                                // raced with the deadline is handed on by it.
                                return None;
                            }
                            crate::loom::park_timeout(deadline - now);
                        }
                    }
                }
            }
        }
    }
}
