//! Sending handles.

// `SendError` is named by `send_blocking` (std) and by doc links.
#[cfg(feature = "std")]
use super::error::SendTimeoutError;
#[cfg_attr(not(feature = "std"), allow(unused_imports))]
use super::error::{SendError, TrySendError};
use super::future::{ClosedFuture, Permit, ReserveFuture, SendFuture};
use super::reserve_many::{PermitIterator, ReserveManyFuture};
use super::{handle_struct, observers, Chan};
use crate::ring::Claim;
use crate::storage::ChannelRef;

handle_struct! {
    /// The sending side of a channel. `Clone` makes another sender (MPMC).
    ///
    /// When the last sender is dropped the channel closes: receivers get the items still
    /// queued, then the end.
    ///
    /// `R` says where the channel lives: [`Heap<T>`](crate::Heap) (the default, from
    /// [`bounded`](crate::bounded)) or `&StaticChannel<T, N>` (see
    /// [`StaticSender`](crate::StaticSender)).
    Sender
}

handle_struct! {
    /// A sender that does not keep the channel open. Made by [`Sender::downgrade`].
    ///
    /// [`upgrade`](WeakSender::upgrade) gives a `Sender` back while any sender lives and
    /// the channel is open.
    WeakSender
}

impl<T, R: ChannelRef<T>> Sender<T, R> {
    /// Counts a new sender on `chan`.
    pub(crate) fn new(chan: R) -> Self {
        chan.chan().add_sender();
        Self::from_counted(chan)
    }

    #[inline]
    fn chan(&self) -> Chan<'_, T> {
        self.chan.chan()
    }

    /// Sends `value` if a slot is free now; never waits.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if every slot is taken, [`TrySendError::Closed`] if the
    /// channel is closed; both give `value` back. Full can also be reported, after a
    /// short bounded spin, while the oldest item is in the middle of being received by
    /// another thread (see the crate docs, "Design choices").
    ///
    /// ```
    /// use sluicebox::TrySendError;
    /// let (tx, rx) = sluicebox::bounded(1);
    /// assert_eq!(tx.try_send(1), Ok(()));
    /// assert_eq!(tx.try_send(2), Err(TrySendError::Full(2)));
    /// drop(rx);
    /// assert_eq!(tx.try_send(3), Err(TrySendError::Closed(3)));
    /// ```
    #[inline]
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        self.chan().try_send(value)
    }

    /// Sends `value`, waiting for a free slot while the channel is full.
    ///
    /// Waiting senders are served in FIFO order and each freed slot wakes one of them.
    ///
    /// # Errors
    ///
    /// [`SendError`] with `value` if the channel is (or becomes, while waiting) closed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes drops `value` with it: the value was either
    /// sent (the future completed) or never entered the channel, never half of each. A
    /// dropped future that had been woken passes the wakeup, and the room handed to it,
    /// to the next waiting sender (or gives the room back).
    /// Use [`reserve`](Self::reserve) to wait for a slot without giving up the value.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(1);
    /// tx.send(1).await.unwrap();
    /// assert_eq!(rx.recv().await, Some(1));
    /// drop(rx);
    /// assert_eq!(tx.send(2).await.unwrap_err().into_inner(), 2);
    /// # });
    /// ```
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture::new(self.chan(), value)
    }

    /// Sends `value`, parking the current thread while the channel is full. For plain
    /// threads; do not call it from async code.
    ///
    /// # Errors
    ///
    /// [`SendError`] with `value` if the channel is (or becomes) closed.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded(1);
    /// let t = std::thread::spawn(move || {
    ///     for i in 0..3 {
    ///         tx.send_blocking(i).unwrap();
    ///     }
    /// });
    /// assert_eq!(rx.recv_blocking(), Ok(0));
    /// assert_eq!(rx.recv_blocking(), Ok(1));
    /// assert_eq!(rx.recv_blocking(), Ok(2));
    /// t.join().unwrap();
    /// ```
    #[cfg(feature = "std")]
    pub fn send_blocking(&self, value: T) -> Result<(), SendError<T>> {
        self.send_until(value, None)
            .map_err(|e| SendError(e.into_inner()))
    }

    /// The blocking send, until `deadline` if there is one. A send that times out counts
    /// in `Stats::abandoned`.
    #[cfg(feature = "std")]
    fn send_until(
        &self,
        value: T,
        deadline: Option<std::time::Instant>,
    ) -> Result<(), SendTimeoutError<T>> {
        let chan = self.chan();
        let mut value = Some(value);
        let sent = super::future::block_on_op(
            &chan.send_waiters,
            |granted| super::future::send_op(chan, &mut value, granted),
            || chan.space_left(),
            &chan.send_beacon(),
            // SAFETY: an unused grant is a reservation made for this waiter.
            || unsafe { chan.give_back() },
            deadline,
        );
        match sent {
            Some(r) => r.map_err(SendTimeoutError::from),
            None => {
                chan.count_abandoned();
                let value = value.expect("sluicebox: a send that timed out still has its value");
                Err(SendTimeoutError::Timeout(value))
            }
        }
    }

    /// [`send_blocking`](Self::send_blocking) for at most `timeout`: the thread parks
    /// with a deadline, no spinning for the whole wait (crossbeam's and std's
    /// `send_timeout`). A send that times out gives its value back and counts in
    /// [`Stats::abandoned`](crate::Stats::abandoned). A timeout too large to add to the
    /// clock waits without one.
    ///
    /// # Errors
    ///
    /// [`SendTimeoutError::Timeout`] if no room came free in time,
    /// [`SendTimeoutError::Closed`] if the channel is (or becomes) closed; both give the
    /// value back.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (tx, rx) = sluicebox::bounded(1);
    /// tx.send_timeout(1, Duration::from_millis(5)).unwrap();
    /// let err = tx.send_timeout(2, Duration::from_millis(5)).unwrap_err();
    /// assert!(err.is_timeout());
    /// assert_eq!(err.into_inner(), 2);
    /// assert_eq!(tx.stats().abandoned, 1);
    /// assert_eq!(rx.try_recv(), Ok(1));
    /// ```
    #[cfg(feature = "std")]
    pub fn send_timeout(
        &self,
        value: T,
        timeout: std::time::Duration,
    ) -> Result<(), SendTimeoutError<T>> {
        match std::time::Instant::now().checked_add(timeout) {
            Some(deadline) => self.send_deadline(value, deadline),
            None => self.send_blocking(value).map_err(SendTimeoutError::from),
        }
    }

    /// [`send_blocking`](Self::send_blocking) until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`send_timeout`](Self::send_timeout).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = sluicebox::bounded(1);
    /// let consumer = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(20));
    ///     (rx.recv_blocking(), rx.recv_blocking())
    /// });
    /// tx.try_send(1).unwrap(); // full: the next send waits for the consumer
    /// tx.send_deadline(2, Instant::now() + Duration::from_secs(10)).unwrap();
    /// drop(tx);
    /// assert_eq!(consumer.join().unwrap(), (Ok(1), Ok(2)));
    /// ```
    #[cfg(feature = "std")]
    pub fn send_deadline(
        &self,
        value: T,
        deadline: std::time::Instant,
    ) -> Result<(), SendTimeoutError<T>> {
        self.send_until(value, Some(deadline))
    }

    /// Waits for room and reserves it: the returned [`Permit`]'s `send` cannot fail, and
    /// dropping the permit gives the room back. The permit holds room, not a place in
    /// line: receivers are not held up while it is held, and its item queues when it is
    /// sent (see [`Permit`]). Waiting `reserve`s and `send`s are served in FIFO order; a
    /// waiter woken by a dropped permit is handed its room.
    ///
    /// # Errors
    ///
    /// [`SendError`] if the channel is (or becomes) closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `reserve` future holds no room, and passes on a wakeup (and
    /// the room handed to it) it received. This makes `reserve` the way to wait for room inside `select!` without
    /// losing the value.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(4);
    /// let permit = tx.reserve().await.unwrap();
    /// permit.send("reserved");
    /// assert_eq!(rx.recv().await, Some("reserved"));
    /// # });
    /// ```
    pub fn reserve(&self) -> ReserveFuture<'_, T> {
        ReserveFuture::new(self.chan())
    }

    /// Waits for room for `n` items and reserves it: the [`PermitIterator`] hands out
    /// `n` [`Permit`]s, used one by one; those not taken come back when it is dropped
    /// (tokio's `reserve_many`).
    ///
    /// It takes the `n` slots together, never part of them: waiting senders each holding
    /// part of what they need could hold all the room between them and wait for each
    /// other for good. Waiting, it keeps its place in line, retries as slots free up, and
    /// completes once `n` are free together. (tokio's holds part of them while it waits;
    /// here a stream of barging `try_send`s can keep a large batch waiting.)
    ///
    /// # Errors
    ///
    /// [`SendError`] if the channel is (or becomes) closed, or if `n` is more than the
    /// capacity (it could never be satisfied; tokio does the same).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `reserve_many` future holds no room, and passes on a
    /// wakeup (and room handed to it) it received.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(4);
    /// let permits = tx.reserve_many(3).await.unwrap();
    /// for (permit, v) in permits.zip(["a", "b", "c"]) {
    ///     permit.send(v);
    /// }
    /// assert_eq!(rx.recv().await, Some("a"));
    /// assert!(tx.reserve_many(5).await.is_err()); // more than the capacity
    /// # });
    /// ```
    pub fn reserve_many(&self, n: usize) -> ReserveManyFuture<'_, T> {
        ReserveManyFuture::new(self.chan(), n)
    }

    /// Reserves room for `n` items now, all or nothing, or fails without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] if fewer than `n` slots are free (or `n` exceeds the
    /// capacity), [`TrySendError::Closed`] if the channel is closed; nothing is reserved
    /// then.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(3);
    /// let two = tx.try_reserve_many(2).unwrap();
    /// assert!(tx.try_reserve_many(2).unwrap_err().is_full());
    /// assert_eq!(tx.reserved(), 2); // the failed call took nothing
    /// drop(two);
    /// assert_eq!(tx.reserved(), 0);
    /// ```
    pub fn try_reserve_many(&self, n: usize) -> Result<PermitIterator<'_, T>, TrySendError<()>> {
        super::reserve_many::try_reserve_many(self.chan(), n)
    }

    /// Reserves room now, or fails without waiting.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`] (carrying `()`).
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(1);
    /// let permit = tx.try_reserve().unwrap();
    /// assert!(tx.try_reserve().unwrap_err().is_full());
    /// drop(permit); // gives the room back
    /// ```
    pub fn try_reserve(&self) -> Result<Permit<'_, T>, TrySendError<()>> {
        match self.chan().reserve() {
            Ok(()) => Ok(Permit::new(self.chan())),
            Err(Claim::Full | Claim::InFlight) => Err(TrySendError::Full(())),
            Err(Claim::Closed) => Err(TrySendError::Closed(())),
        }
    }

    /// Completes when the channel closes (every receiver gone, or `close` called).
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// drop(rx);
    /// tx.closed().await;
    /// assert!(tx.is_closed());
    /// # });
    /// ```
    pub fn closed(&self) -> ClosedFuture<'_, T> {
        ClosedFuture::new(self.chan())
    }

    /// Sends `value` now, evicting the oldest item if the channel is full (drop-oldest).
    /// Returns the evicted item.
    ///
    /// The eviction and the send are one step: the oldest item is taken out only as
    /// `value` takes its place, so an item is never evicted without `value` being sent,
    /// and every evicted item comes back here (PITFALLS `evict-then-full`). At most one
    /// item is evicted per call, and each is counted in
    /// [`Stats::evicted`](crate::Stats::evicted). It never waits.
    ///
    /// # Errors
    ///
    /// Nothing was evicted when it fails, and `value` comes back:
    /// [`TrySendError::Closed`] if the channel is closed, and [`TrySendError::Full`] when
    /// the oldest item cannot be swapped right now: some of the room is held by a
    /// [`Permit`], or was just handed to a woken sender that has not run yet (reserved
    /// room is not the oldest item's to give, so while any is, drop-oldest behaves as
    /// drop-newest on a full channel), or the oldest slot
    /// is being written or read by another thread (after the same short bounded spin as
    /// `try_send`).
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded(2);
    /// assert_eq!(tx.force_send(1), Ok(None));
    /// assert_eq!(tx.force_send(2), Ok(None));
    /// assert_eq!(tx.force_send(3), Ok(Some(1)));
    /// assert_eq!(rx.try_recv(), Ok(2));
    /// assert_eq!(rx.try_recv(), Ok(3));
    /// ```
    pub fn force_send(&self, value: T) -> Result<Option<T>, TrySendError<T>> {
        self.chan().force_send(value)
    }

    /// A [`WeakSender`] for this channel, which does not keep it open.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// let weak = tx.downgrade();
    /// assert!(weak.upgrade().is_some());
    /// drop(tx);
    /// assert!(weak.upgrade().is_none());
    /// assert!(rx.is_closed());
    /// ```
    pub fn downgrade(&self) -> WeakSender<T, R> {
        WeakSender::new(self.chan.clone())
    }

    /// Number of live [`WeakSender`]s of this channel (tokio's `Sender::weak_count`).
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(1);
    /// let weak = tx.downgrade();
    /// assert_eq!(tx.weak_count(), 1);
    /// drop(weak);
    /// assert_eq!(tx.weak_count(), 0);
    /// ```
    pub fn weak_count(&self) -> usize {
        self.chan().weak_count(true)
    }

    /// Whether `self` and `other` send on the same channel.
    ///
    /// ```
    /// let (a, _r1) = sluicebox::bounded::<u8>(1);
    /// let (b, _r2) = sluicebox::bounded::<u8>(1);
    /// assert!(a.same_channel(&a.clone()));
    /// assert!(!a.same_channel(&b));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        self.chan().same(&other.chan())
    }

    /// A read-only [`Monitor`](crate::Monitor) of this channel, for a dashboard or a
    /// metrics exporter. It is not counted as a sender or receiver.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(4);
    /// let gauge = tx.monitor();
    /// tx.try_send(1).unwrap();
    /// assert_eq!(gauge.stats().len, 1);
    /// ```
    pub fn monitor(&self) -> crate::Monitor<T, R> {
        crate::Monitor::new(self.chan.clone())
    }

    observers!();
}

impl<T, R: ChannelRef<T>> Clone for Sender<T, R> {
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T, R: ChannelRef<T>> Drop for Sender<T, R> {
    fn drop(&mut self) {
        self.chan().remove_sender();
    }
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for Sender<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T, R: ChannelRef<T>> WeakSender<T, R> {
    /// Counts a new weak sender on `chan`.
    fn new(chan: R) -> Self {
        chan.chan().add_weak(true);
        Self::from_counted(chan)
    }

    /// Number of live weak senders, this one included.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(1);
    /// let weak = tx.downgrade();
    /// assert_eq!(weak.clone().weak_count(), 2);
    /// ```
    pub fn weak_count(&self) -> usize {
        self.chan.chan().weak_count(true)
    }

    /// A live [`Sender`], if any sender still lives and the channel is open.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// let weak = tx.downgrade();
    /// rx.close();
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn upgrade(&self) -> Option<Sender<T, R>> {
        if self.chan.chan().try_add_sender() {
            Some(Sender::from_counted(self.chan.clone()))
        } else {
            None
        }
    }

    /// Number of live (strong) senders.
    ///
    /// ```
    /// let (tx, _rx) = sluicebox::bounded::<u8>(1);
    /// assert_eq!(tx.downgrade().sender_count(), 1);
    /// ```
    pub fn sender_count(&self) -> usize {
        self.chan.chan().sender_count()
    }
}

impl<T, R: ChannelRef<T>> Clone for WeakSender<T, R> {
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T, R: ChannelRef<T>> Drop for WeakSender<T, R> {
    fn drop(&mut self) {
        self.chan.chan().remove_weak(true);
    }
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for WeakSender<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WeakSender")
            .field("closed", &self.chan.chan().is_closed())
            .finish()
    }
}
