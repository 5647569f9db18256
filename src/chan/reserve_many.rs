//! Reserving several slots at once: `reserve_many`, `try_reserve_many` and the
//! [`PermitIterator`] they give.
//!
//! A `reserve_many(n)` takes its `n` reservations together or not at all: it never
//! waits holding part of them. (Waiters that each held part of what they need could
//! hold all the room between them and wait for each other for good.) When it finds too
//! little room it gives back what it took — each reservation given back may go to a
//! waiting sender, as a dropped permit's does — and waits in line; every freed slot wakes
//! the front waiter, so it retries as room frees up and succeeds once `n` slots are free
//! together. Dropped while waiting, it passes on a wakeup it received.

use super::error::{SendError, TrySendError};
use super::future::{drop_sending_waiter, Permit};
use super::Chan;
use crate::ring::Claim;
use crate::wait::{Blocked, Waiter, WakeRef};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

/// Future of [`Sender::reserve_many`](crate::Sender::reserve_many).
#[must_use = "futures do nothing unless polled"]
pub struct ReserveManyFuture<'a, T> {
    chan: Chan<'a, T>,
    /// Reservations wanted in all.
    wanted: usize,
    waiter: Waiter,
}

impl<'a, T> ReserveManyFuture<'a, T> {
    pub(crate) fn new(chan: Chan<'a, T>, n: usize) -> Self {
        Self {
            chan,
            wanted: n,
            waiter: Waiter::new(),
        }
    }
}

/// Takes `wanted` reservations, all or none. `Err` to wait, holding none.
fn gather<'a, T>(
    chan: Chan<'a, T>,
    wanted: usize,
    granted: bool,
) -> Result<Result<PermitIterator<'a, T>, SendError<()>>, Blocked> {
    // Room reserved for us by the notifier that woke us counts as the first.
    let mut got = usize::from(granted);
    // Too little room now: take none (and give a grant back). Taking some and giving it
    // back would wake a waiter for nothing — possibly this one, queued already when it
    // retries after registering, which would then spin, holding the grant between polls.
    if chan.room_left() < wanted - got && !chan.is_closed() {
        give_back(chan, got);
        return Err(Blocked::Empty);
    }
    while got < wanted {
        match chan.reserve_waiting() {
            Ok(()) => got += 1,
            Err(e) => {
                give_back(chan, got);
                return match e {
                    Claim::Full => Err(Blocked::Empty),
                    Claim::InFlight => Err(Blocked::Busy),
                    Claim::Closed => Ok(Err(SendError(()))),
                };
            }
        }
    }
    Ok(Ok(PermitIterator::new(chan, got)))
}

/// Gives `n` owned reservations back, one at a time (each may hand its room to a waiting
/// sender).
fn give_back<T>(chan: Chan<'_, T>, n: usize) {
    for _ in 0..n {
        // SAFETY: the caller owns `n` reservations of `chan` and gives each back once.
        unsafe { chan.give_back() };
    }
}

impl<'a, T> Future for ReserveManyFuture<'a, T> {
    type Output = Result<PermitIterator<'a, T>, SendError<()>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: we only project to `waiter` (never moved out of the pinned future) and
        // to plain fields that are not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `waiter` is inside a pinned future and never moved out; `Drop`
        // unregisters it.
        let waiter = unsafe { Pin::new_unchecked(&this.waiter) };
        let chan = this.chan;
        if this.wanted > chan.capacity() {
            return Poll::Ready(Err(SendError(())));
        }
        let wanted = this.wanted;
        crate::coop::budgeted(cx, |cx| {
            chan.send_waiters.poll_op(
                waiter,
                WakeRef::Task(cx.waker()),
                false,
                |granted| gather(chan, wanted, granted),
                || chan.space_left(),
                &chan.send_beacon(),
                // SAFETY: an unused grant is a reservation made for this waiter.
                || unsafe { chan.give_back() },
            )
        })
    }
}

impl<T> Drop for ReserveManyFuture<'_, T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs on the pinned future before its memory is reused; the waiter
        // is not moved.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        drop_sending_waiter(self.chan, waiter);
    }
}

impl<T> fmt::Debug for ReserveManyFuture<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReserveManyFuture")
            .field("wanted", &self.wanted)
            .finish_non_exhaustive()
    }
}

/// `n` reservations at once, without waiting: all or none.
pub(crate) fn try_reserve_many<T>(
    chan: Chan<'_, T>,
    n: usize,
) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
    if n > chan.capacity() {
        return Err(TrySendError::Full(()));
    }
    let mut got = 0;
    while got < n {
        match chan.reserve() {
            Ok(()) => got += 1,
            Err(e) => {
                give_back(chan, got);
                return Err(match e {
                    Claim::Closed => TrySendError::Closed(()),
                    Claim::Full | Claim::InFlight => TrySendError::Full(()),
                });
            }
        }
    }
    Ok(PermitIterator::new(chan, n))
}

/// Several reservations, handed out as [`Permit`]s one at a time. Made by
/// [`Sender::reserve_many`](crate::Sender::reserve_many) and
/// [`Sender::try_reserve_many`](crate::Sender::try_reserve_many).
///
/// Dropping it gives the reservations not yet taken back (tokio's `PermitIterator`).
///
/// ```
/// let (tx, rx) = sluicebox::bounded(4);
/// let mut permits = tx.try_reserve_many(3).unwrap();
/// assert_eq!(permits.len(), 3);
/// permits.next().unwrap().send("a");
/// permits.next().unwrap().send("b");
/// drop(permits); // the third reservation comes back
/// assert_eq!((tx.len(), tx.reserved()), (2, 0));
/// assert_eq!(rx.try_recv(), Ok("a"));
/// ```
#[must_use = "reservations hold room in the channel until used or dropped"]
pub struct PermitIterator<'a, T> {
    chan: Chan<'a, T>,
    /// Reservations owned and not yet handed out.
    left: usize,
}

impl<'a, T> PermitIterator<'a, T> {
    fn new(chan: Chan<'a, T>, left: usize) -> Self {
        Self { chan, left }
    }
}

impl<'a, T> Iterator for PermitIterator<'a, T> {
    type Item = Permit<'a, T>;

    fn next(&mut self) -> Option<Permit<'a, T>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // One of our reservations becomes the permit's.
        Some(Permit::new(self.chan))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> ExactSizeIterator for PermitIterator<'_, T> {}
impl<T> core::iter::FusedIterator for PermitIterator<'_, T> {}

impl<T> Drop for PermitIterator<'_, T> {
    fn drop(&mut self) {
        give_back(self.chan, self.left);
    }
}

impl<T> fmt::Debug for PermitIterator<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PermitIterator")
            .field("left", &self.left)
            .finish_non_exhaustive()
    }
}
