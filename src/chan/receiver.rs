//! Receiving handles.

use super::error::TryRecvError;
#[cfg(feature = "std")]
use super::error::{RecvError, RecvTimeoutError};
use super::future::RecvFuture;
use super::{handle_struct, observers, Chan};
use crate::storage::ChannelRef;
use crate::wait::Waiter;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

handle_struct! {
    /// The receiving side of a channel. `Clone` makes another receiver (MPMC): each item
    /// goes to exactly one receiver.
    ///
    /// When the last receiver is dropped the channel closes, the items still queued are
    /// dropped, and sends fail with their value returned.
    ///
    /// A consumer task that always finds an item never yields by itself; on tokio, turn
    /// on the `tokio` feature (see [`recv`](Receiver::recv), "Cooperative scheduling").
    Receiver
}

handle_struct! {
    /// A receiver that does not keep the channel open. Made by [`Receiver::downgrade`].
    ///
    /// [`upgrade`](WeakReceiver::upgrade) gives a `Receiver` back while any receiver
    /// lives. A weak receiver does not count as a receiver: when the last `Receiver` is
    /// dropped, the channel closes and drops its items as usual.
    WeakReceiver
}

impl<T, R: ChannelRef<T>> Receiver<T, R> {
    /// A [`WeakReceiver`] for this channel, which does not keep it open.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// let weak = rx.downgrade();
    /// assert!(weak.upgrade().is_some());
    /// drop(rx);
    /// assert!(weak.upgrade().is_none());
    /// assert!(tx.is_closed());
    /// ```
    pub fn downgrade(&self) -> WeakReceiver<T, R> {
        WeakReceiver::new(self.chan.clone())
    }

    /// Number of live [`WeakSender`](crate::WeakSender)s of this channel (tokio's
    /// `Receiver::sender_weak_count`).
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// let _weak = tx.downgrade();
    /// assert_eq!(rx.sender_weak_count(), 1);
    /// ```
    pub fn sender_weak_count(&self) -> usize {
        self.chan().weak_count(true)
    }

    /// Number of live [`WeakReceiver`]s of this channel.
    ///
    /// ```
    /// let (_tx, rx) = sluicebox::bounded::<u8>(1);
    /// let _weak = rx.downgrade();
    /// assert_eq!(rx.weak_count(), 1);
    /// ```
    pub fn weak_count(&self) -> usize {
        self.chan().weak_count(false)
    }

    /// Counts a new receiver on `chan`.
    pub(crate) fn new(chan: R) -> Self {
        chan.chan().add_receiver();
        Self::from_counted(chan)
    }

    #[inline]
    fn chan(&self) -> Chan<'_, T> {
        self.chan.chan()
    }

    /// Receives the oldest item, waiting while the channel is empty. `None` once the
    /// channel is closed and drained, so `while let Some(x) = rx.recv().await` works.
    ///
    /// Waiting receivers are served in FIFO order, one per item.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item is taken off the ring only inside the `poll` that returns it,
    /// so dropping the future (in `select!`, under a timeout) never loses an item. A dropped
    /// future that had been woken passes the wakeup to the next waiting receiver.
    ///
    /// # Cooperative scheduling
    ///
    /// A `recv` that finds an item is ready at once, so a loop over a channel that never
    /// runs dry never yields by itself. With the `tokio` feature, `recv` (and `send`,
    /// `reserve`, the stream, `acquire`) spends tokio's per-task budget as tokio's own
    /// channels do, and such a loop yields to the runtime's other tasks every 128
    /// operations. On other executors (smol, async-std, `futures`), which have no such
    /// budget, nothing yields for you — as with async-channel: in a loop that may never
    /// find the channel empty, yield now and then yourself (e.g. every 128 items).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(2);
    /// tx.send(1).await.unwrap();
    /// drop(tx);
    /// assert_eq!(rx.recv().await, Some(1));
    /// assert_eq!(rx.recv().await, None);
    /// # });
    /// ```
    pub fn recv(&self) -> RecvFuture<'_, T> {
        RecvFuture::new(self.chan())
    }

    /// Receives the oldest item, parking the current thread while the channel is empty.
    /// For plain threads; do not call it from async code.
    ///
    /// # Errors
    ///
    /// [`RecvError`] once the channel is closed and drained.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded(1);
    /// std::thread::spawn(move || tx.send_blocking(9).unwrap());
    /// assert_eq!(rx.recv_blocking(), Ok(9));
    /// assert_eq!(rx.recv_blocking(), Err(sluicebox::RecvError));
    /// ```
    #[cfg(feature = "std")]
    pub fn recv_blocking(&self) -> Result<T, RecvError> {
        self.recv_until(None).map_err(|_| RecvError)
    }

    /// The blocking receive, until `deadline` if there is one.
    #[cfg(feature = "std")]
    fn recv_until(&self, deadline: Option<std::time::Instant>) -> Result<T, RecvTimeoutError> {
        let chan = self.chan();
        match super::future::block_on_op(
            &chan.recv_waiters,
            |_| super::future::recv_op(chan),
            || chan.items_left(),
            &chan.recv_beacon(),
            || {},
            deadline,
        ) {
            Some(Some(item)) => Ok(item),
            Some(None) => Err(RecvTimeoutError::Closed),
            None => Err(RecvTimeoutError::Timeout),
        }
    }

    /// [`recv_blocking`](Self::recv_blocking) for at most `timeout`: the thread parks
    /// with a deadline, no spinning for the whole wait (crossbeam's and std's
    /// `recv_timeout`). A timeout too large to add to the clock waits without one.
    ///
    /// # Errors
    ///
    /// [`RecvTimeoutError::Timeout`] if nothing arrived in time,
    /// [`RecvTimeoutError::Closed`] once the channel is closed and drained.
    ///
    /// ```
    /// use std::time::Duration;
    /// use sluicebox::RecvTimeoutError;
    /// let (tx, rx) = sluicebox::bounded(1);
    /// assert_eq!(rx.recv_timeout(Duration::from_millis(5)), Err(RecvTimeoutError::Timeout));
    /// std::thread::spawn(move || tx.send_blocking(7).unwrap());
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
    /// assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Err(RecvTimeoutError::Closed));
    /// ```
    #[cfg(feature = "std")]
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Result<T, RecvTimeoutError> {
        match std::time::Instant::now().checked_add(timeout) {
            Some(deadline) => self.recv_deadline(deadline),
            None => self.recv_blocking().map_err(RecvTimeoutError::from),
        }
    }

    /// [`recv_blocking`](Self::recv_blocking) until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`recv_timeout`](Self::recv_timeout).
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let (tx, rx) = sluicebox::bounded(1);
    /// tx.try_send(1).unwrap();
    /// assert_eq!(rx.recv_deadline(Instant::now()), Ok(1)); // ready: no wait needed
    /// let deadline = Instant::now() + Duration::from_millis(5);
    /// assert!(rx.recv_deadline(deadline).unwrap_err() == sluicebox::RecvTimeoutError::Timeout);
    /// assert!(Instant::now() >= deadline);
    /// ```
    #[cfg(feature = "std")]
    pub fn recv_deadline(&self, deadline: std::time::Instant) -> Result<T, RecvTimeoutError> {
        self.recv_until(Some(deadline))
    }

    /// Waits for at least one item, then appends it and every item available right now,
    /// up to `limit` in all, to `buf`. Returns how many were appended: 0 only when `limit`
    /// is 0 or the channel is closed and drained.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: items are appended to `buf` in the poll that takes them.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(8);
    /// for i in 0..5 {
    ///     tx.send(i).await.unwrap();
    /// }
    /// let mut batch = Vec::new();
    /// assert_eq!(rx.recv_many(&mut batch, 3).await, 3);
    /// assert_eq!(batch, [0, 1, 2]);
    /// # });
    /// ```
    #[cfg(feature = "alloc")]
    pub async fn recv_many(&self, buf: &mut alloc::vec::Vec<T>, limit: usize) -> usize {
        self.recv_many_into(buf, limit).await
    }

    /// [`recv_many`](Self::recv_many) into any `Extend<T>` (a `heapless::Vec`, an array
    /// writer, a counter): no allocation.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as `recv_many`.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(8);
    /// tx.send(1).await.unwrap();
    /// tx.send(2).await.unwrap();
    /// let mut sum = Sum(0);
    /// assert_eq!(rx.recv_many_into(&mut sum, 10).await, 2);
    /// assert_eq!(sum.0, 3);
    ///
    /// struct Sum(u32);
    /// impl Extend<u32> for Sum {
    ///     fn extend<I: IntoIterator<Item = u32>>(&mut self, it: I) {
    ///         self.0 += it.into_iter().sum::<u32>();
    ///     }
    /// }
    /// # });
    /// ```
    pub async fn recv_many_into<E: Extend<T>>(&self, buf: &mut E, limit: usize) -> usize {
        if limit == 0 {
            return 0;
        }
        let Some(first) = self.recv().await else {
            return 0;
        };
        buf.extend(core::iter::once(first));
        let mut taken = 1;
        // Only what is there now: `try_recv` until empty or `limit`.
        while taken < limit {
            match self.try_recv() {
                Ok(item) => {
                    buf.extend(core::iter::once(item));
                    taken += 1;
                }
                Err(_) => break,
            }
        }
        taken
    }

    /// Adaptive batching: waits for a first item, then keeps collecting items (waiting for
    /// more as they come) until `limit` items were taken or `deadline` completes. Returns
    /// the number appended to `buf`; 0 only if `limit` is 0 or the channel is closed and
    /// drained.
    ///
    /// The deadline is any future (`tokio::time::sleep(..)`, `smol::Timer::after(..)`,
    /// ...), so this needs no timer of its own. It is created by the caller, so it runs
    /// from the call, not from the first item; it is not polled before the first item
    /// arrives.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: each item is appended to `buf` in the poll that takes it.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(8);
    /// tx.send(1).await.unwrap();
    /// tx.send(2).await.unwrap();
    /// let mut batch = Vec::new();
    /// // An already-expired deadline: take the first item and whatever is there now.
    /// let n = rx.recv_batch(&mut batch, 100, async {}).await;
    /// assert_eq!((n, batch), (2, vec![1, 2]));
    /// # });
    /// ```
    pub async fn recv_batch<E, D>(&self, buf: &mut E, limit: usize, deadline: D) -> usize
    where
        E: Extend<T>,
        D: Future<Output = ()>,
    {
        if limit == 0 {
            return 0;
        }
        let Some(first) = self.recv().await else {
            return 0;
        };
        buf.extend(core::iter::once(first));
        let mut taken = 1;
        let mut deadline = core::pin::pin!(deadline);
        while taken < limit {
            match self.try_recv() {
                Ok(item) => {
                    buf.extend(core::iter::once(item));
                    taken += 1;
                    continue;
                }
                Err(TryRecvError::Closed) => break,
                Err(TryRecvError::Empty) => {}
            }
            let mut next = core::pin::pin!(self.recv());
            let got = core::future::poll_fn(|cx| {
                if let Poll::Ready(item) = next.as_mut().poll(cx) {
                    return Poll::Ready(item);
                }
                // The deadline has only ever returned Pending: we stop as soon as it is
                // ready, so it is never polled after completing.
                deadline.as_mut().poll(cx).map(|()| None)
            })
            .await;
            match got {
                Some(item) => {
                    buf.extend(core::iter::once(item));
                    taken += 1;
                }
                None => break,
            }
        }
        taken
    }

    /// A [`Stream`](futures_core::Stream) of this receiver's items, which also offers
    /// [`poll_recv`](RecvStream::poll_recv) for hand-written futures.
    ///
    /// The stream embeds its wait-list node (that is how waiting allocates nothing), so
    /// it is `!Unpin`: pin it before calling `StreamExt::next` — `pin!` on the stack, or
    /// `Box::pin` to store or return it. Without the pin, `stream.next()` fails to compile
    /// with "`PhantomPinned` cannot be unpinned ... within `Waiter`".
    ///
    /// ```
    /// use futures::StreamExt;
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(4);
    /// tx.send(1).await.unwrap();
    /// tx.send(2).await.unwrap();
    /// drop(tx);
    /// let mut stream = core::pin::pin!(rx.into_stream());
    /// assert_eq!(stream.next().await, Some(1));
    /// assert_eq!(stream.collect::<Vec<_>>().await, [2]);
    /// # });
    /// ```
    ///
    /// Like `recv`, the stream takes part in tokio's cooperative budget with the `tokio`
    /// feature, and never yields by itself without it (see [`recv`](Self::recv),
    /// "Cooperative scheduling").
    ///
    /// It is a [`FusedStream`](futures_core::FusedStream): after it has returned `None`,
    /// `is_terminated` is true, so `select!` skips it.
    ///
    /// ```
    /// use futures::stream::{FusedStream, StreamExt};
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// let mut stream = Box::pin(rx.into_stream());
    /// drop(tx);
    /// assert!(!stream.is_terminated());
    /// assert_eq!(stream.next().await, None);
    /// assert!(stream.is_terminated());
    /// # });
    /// ```
    pub fn into_stream(self) -> RecvStream<T, R> {
        RecvStream {
            rx: self,
            waiter: Waiter::new(),
            ended: false,
        }
    }

    /// Takes the oldest item if there is one now; never waits.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if nothing is queued (an item whose send is still in flight
    /// on another thread counts as not there yet), [`TryRecvError::Closed`] if the channel
    /// is closed and drained.
    ///
    /// ```
    /// use sluicebox::TryRecvError;
    /// let (tx, rx) = sluicebox::bounded(1);
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
    /// tx.try_send(5).unwrap();
    /// drop(tx);
    /// assert_eq!(rx.try_recv(), Ok(5));
    /// assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    /// ```
    #[inline]
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.chan().try_recv()
    }

    /// Whether `self` and `other` receive from the same channel.
    ///
    /// ```
    /// let (_t, rx) = sluicebox::bounded::<u8>(1);
    /// assert!(rx.same_channel(&rx.clone()));
    /// ```
    pub fn same_channel(&self, other: &Self) -> bool {
        self.chan().same(&other.chan())
    }

    /// A read-only [`Monitor`](crate::Monitor) of this channel, for a dashboard or a
    /// metrics exporter. It is not counted as a sender or receiver.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(4);
    /// let gauge = rx.monitor();
    /// tx.try_send(1).unwrap();
    /// assert_eq!(gauge.stats().len, 1);
    /// ```
    pub fn monitor(&self) -> crate::Monitor<T, R> {
        crate::Monitor::new(self.chan.clone())
    }

    observers!();
}

impl<T, R: ChannelRef<T>> Clone for Receiver<T, R> {
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T, R: ChannelRef<T>> Drop for Receiver<T, R> {
    fn drop(&mut self) {
        self.chan().remove_receiver();
    }
}

impl<T, R: ChannelRef<T>> WeakReceiver<T, R> {
    /// Counts a new weak receiver on `chan`.
    fn new(chan: R) -> Self {
        chan.chan().add_weak(false);
        Self::from_counted(chan)
    }

    /// A live [`Receiver`], if any receiver still lives. A closed channel's receivers
    /// can still drain it, so this works after `close()` too, until the last receiver is
    /// dropped.
    ///
    /// ```
    /// let (tx, rx) = sluicebox::bounded::<u8>(1);
    /// let weak = rx.downgrade();
    /// tx.try_send(1).unwrap();
    /// tx.close();
    /// assert_eq!(weak.upgrade().unwrap().try_recv(), Ok(1));
    /// drop(rx);
    /// assert!(weak.upgrade().is_none());
    /// ```
    pub fn upgrade(&self) -> Option<Receiver<T, R>> {
        if self.chan.chan().try_add_receiver() {
            Some(Receiver::from_counted(self.chan.clone()))
        } else {
            None
        }
    }

    /// Number of live (strong) receivers.
    ///
    /// ```
    /// let (_tx, rx) = sluicebox::bounded::<u8>(1);
    /// assert_eq!(rx.downgrade().receiver_count(), 1);
    /// ```
    pub fn receiver_count(&self) -> usize {
        self.chan.chan().receiver_count()
    }

    /// Number of live weak receivers, this one included.
    ///
    /// ```
    /// let (_tx, rx) = sluicebox::bounded::<u8>(1);
    /// assert_eq!(rx.downgrade().weak_count(), 1);
    /// ```
    pub fn weak_count(&self) -> usize {
        self.chan.chan().weak_count(false)
    }
}

impl<T, R: ChannelRef<T>> Clone for WeakReceiver<T, R> {
    fn clone(&self) -> Self {
        Self::new(self.chan.clone())
    }
}

impl<T, R: ChannelRef<T>> Drop for WeakReceiver<T, R> {
    fn drop(&mut self) {
        self.chan.chan().remove_weak(false);
    }
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for WeakReceiver<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WeakReceiver")
            .field("closed", &self.chan.chan().is_closed())
            .finish()
    }
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for Receiver<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// A receiver as a [`Stream`](futures_core::Stream). Made by
/// [`Receiver::into_stream`].
#[must_use = "streams do nothing unless polled"]
pub struct RecvStream<T, R: ChannelRef<T>> {
    rx: Receiver<T, R>,
    /// Lives as long as the stream, so a wait can span polls.
    waiter: Waiter,
    /// It returned `None`: the channel is closed and drained, for good.
    ended: bool,
}

impl<T, R: ChannelRef<T>> RecvStream<T, R> {
    /// Polls for the next item: `Ready(Some(item))`, `Ready(None)` once the channel is
    /// closed and drained, or `Pending` with this task queued to be woken.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: an item is only taken when `Ready(Some(_))` is returned. The stream's
    /// wait spans polls, so a stream that returned `Pending` stays queued (and, once
    /// woken, holds its wakeup) until it is polled again or dropped — if it is left
    /// unpolled (say `stream.next()` lost a `select!` and the stream is kept for later),
    /// the item it was woken for waits for it while other receivers sleep. Poll it again
    /// soon, or drop it (dropping hands the wakeup on). `Receiver::recv` futures have no
    /// such state beyond their own lifetime.
    ///
    /// ```
    /// use core::future::poll_fn;
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = sluicebox::bounded(1);
    /// tx.try_send(5).unwrap();
    /// let mut stream = core::pin::pin!(rx.into_stream());
    /// assert_eq!(poll_fn(|cx| stream.as_mut().poll_recv(cx)).await, Some(5));
    /// # });
    /// ```
    pub fn poll_recv(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        // SAFETY: `waiter` is never moved out of the pinned stream; `rx` is not structurally
        // pinned and only read.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&this.waiter) };
        let poll = super::future::poll_recv(this.rx.chan(), waiter, cx);
        if let Poll::Ready(None) = poll {
            this.ended = true;
        }
        poll
    }

    /// The receiver back (the stream's wait, if any, is cancelled).
    ///
    /// ```
    /// let (_tx, rx) = sluicebox::bounded::<u8>(1);
    /// let rx = rx.into_stream().into_inner();
    /// assert!(rx.is_empty());
    /// ```
    pub fn into_inner(self) -> Receiver<T, R> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: the stream was never pinned (we have it by value), so its waiter was
        // never registered; we move `rx` out once and forget the rest (the waiter owns
        // nothing while unregistered).
        unsafe { core::ptr::read(&this.rx) }
    }

    /// The receiver this stream reads from.
    pub fn get_ref(&self) -> &Receiver<T, R> {
        &self.rx
    }
}

impl<T, R: ChannelRef<T>> futures_core::Stream for RecvStream<T, R> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.poll_recv(cx)
    }
}

impl<T, R: ChannelRef<T>> futures_core::FusedStream for RecvStream<T, R> {
    fn is_terminated(&self) -> bool {
        self.ended
    }
}

impl<T, R: ChannelRef<T>> Drop for RecvStream<T, R> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs before the pinned stream's memory is reused; not moved.
        let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
        let chan = self.rx.chan();
        chan.recv_waiters.unregister(waiter, || chan.items_left());
    }
}

impl<T, R: ChannelRef<T>> core::fmt::Debug for RecvStream<T, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RecvStream").field("rx", &self.rx).finish()
    }
}
