//! A counting async semaphore: fair (strict FIFO), allocation-free, `const`-constructible.
//!
//! Built on the same wait list as the channel (`crate::wait`): the permits a waiter still
//! needs live in its node (`Node::wanted`), and released permits are *assigned* to waiters
//! in queue order, under the lock, before any reach the free counter.
//!
//! # Invariants
//!
//! 1. `permits` holds `free << 1 | closed`. Permits assigned to a queued waiter are not
//!    free: they move from the releaser to the node (`wanted` goes down).
//! 2. **FIFO.** While anyone is queued, released permits go to the front waiter first; a
//!    front waiter that needs more than is released keeps what it got and blocks those
//!    behind it (a large `acquire_many` is not starved by small ones). A new acquirer
//!    that finds anyone queued queues behind them instead of taking free permits, and
//!    `try_acquire` fails while the free counter is empty — which it is while waiters are
//!    queued (permits only reach the counter when nobody waits, or in the instant
//!    before a concurrent release rebalances them; see 3).
//! 3. **No lost permits.** A releaser adds to `free`, fences, and rebalances (moves `free`
//!    into waiters under the lock) if it sees anyone queued; a waiter queues, fences, and
//!    rebalances if it sees `free > 0`. By the store-buffering argument of the wait list's
//!    invariant 4, one of them sees the other.
//! 4. A waiter dropped while queued gives back what it was assigned; one dropped after it
//!    was granted (notified, not yet polled) gives back everything: permits never leak
//!    through cancellation.
//!
//! The channel's capacity is *not* built on this semaphore: a channel slot is claimed in
//! the ring itself (see `Sender::reserve`), which keeps the send path to one CAS. Both
//! kinds of permit follow the same rules: dropping gives back, and they are RAII guards.

use crate::loom::{AtomicUsize, Ordering};
use crate::wait::{List, State, WaitList, Waiter, WakeBatch, WakeRef, WakeTarget};
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::ptr::NonNull;
use core::task::{Context, Poll};

const CLOSED: usize = 1;
const SHIFT: usize = 1;

/// A counting semaphore for async tasks and threads, fair and allocation-free.
///
/// ```
/// use sluicebox::Semaphore;
///
/// static LIMIT: Semaphore = Semaphore::new(2);
///
/// # futures::executor::block_on(async {
/// let a = LIMIT.acquire().await.unwrap();
/// let b = LIMIT.acquire().await.unwrap();
/// assert!(LIMIT.try_acquire().is_err()); // both permits are out
/// drop(a);
/// assert_eq!(LIMIT.available_permits(), 1);
/// # drop(b);
/// # });
/// ```
///
/// # Fairness
///
/// Strict FIFO: waiters are granted permits in the order they started waiting, and a
/// waiting `acquire_many(n)` holds the permits released while it waits until it has all
/// `n`, so a stream of small acquires cannot starve it. `try_acquire` does not barge past
/// waiters.
pub struct Semaphore {
    permits: AtomicUsize,
    waiters: WaitList,
}

/// Why an `acquire` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AcquireError {
    /// The semaphore is closed.
    Closed,
    /// More permits were asked for than the semaphore can ever hold
    /// ([`Semaphore::MAX_PERMITS`]).
    TooManyPermits,
}

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "semaphore closed",
            Self::TooManyPermits => "more permits requested than a semaphore can hold",
        })
    }
}

impl core::error::Error for AcquireError {}

/// Why a `try_acquire` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TryAcquireError {
    /// The semaphore is closed.
    Closed,
    /// Not enough permits are free now (or others are waiting for them).
    NoPermits,
    /// More permits were asked for than [`Semaphore::MAX_PERMITS`].
    TooManyPermits,
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "semaphore closed",
            Self::NoPermits => "no permits available",
            Self::TooManyPermits => "more permits requested than a semaphore can hold",
        })
    }
}

impl core::error::Error for TryAcquireError {}

impl Semaphore {
    /// The most permits a semaphore can hold (`usize::MAX >> 3`).
    pub const MAX_PERMITS: usize = usize::MAX >> 3;

    crate::loom::const_fn! {
        /// A semaphore with `permits` free permits.
        ///
        /// # Panics
        ///
        /// If `permits > Semaphore::MAX_PERMITS` (at compile time in a `static`).
        ///
        /// ```
        /// let sem = sluicebox::Semaphore::new(3);
        /// assert_eq!(sem.available_permits(), 3);
        /// ```
        #[must_use]
        pub const fn new(permits: usize) -> Self {
            assert!(
                permits <= Self::MAX_PERMITS,
                "sluicebox: a semaphore holds at most Semaphore::MAX_PERMITS permits"
            );
            Self {
                permits: AtomicUsize::new(permits << SHIFT),
                waiters: WaitList::new(),
            }
        }
    }

    /// Free permits now (permits already assigned to waiters are not counted).
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(2);
    /// let _p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn available_permits(&self) -> usize {
        // Acquire: a monitoring read that sees releases that happened before it.
        self.permits.load(Ordering::Acquire) >> SHIFT
    }

    /// Number of tasks and threads waiting for permits now.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(1);
    /// assert_eq!(sem.waiting(), 0);
    /// ```
    pub fn waiting(&self) -> usize {
        self.waiters.len()
    }

    /// Whether the semaphore is closed.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(1);
    /// sem.close();
    /// assert!(sem.is_closed());
    /// ```
    pub fn is_closed(&self) -> bool {
        // Acquire: pairs with the SeqCst `fetch_or` in `close`.
        self.permits.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Closes the semaphore: pending and future acquires fail with
    /// [`AcquireError::Closed`]; every waiter is woken. Permits already held stay valid
    /// (dropping them still returns them). Returns `true` if this call closed it.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(1);
    /// assert!(sem.close());
    /// assert_eq!(sem.try_acquire().unwrap_err(), sluicebox::TryAcquireError::Closed);
    /// ```
    pub fn close(&self) -> bool {
        // SeqCst: ordered with the fences of invariant 3, so a waiter that queues after
        // this sees it on its re-check.
        if self.permits.fetch_or(CLOSED, Ordering::SeqCst) & CLOSED != 0 {
            return false;
        }
        /// If a waker panics, the unwinding finishes the job: nobody is left asleep.
        struct Rest<'a>(&'a Semaphore);
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                self.0.wake_closed();
            }
        }
        let rest = Rest(self);
        self.wake_closed();
        core::mem::forget(rest);
        true
    }

    /// Wakes every waiter after `close`.
    fn wake_closed(&self) {
        let mut batch = WakeBatch::new();
        loop {
            let done = {
                let mut list = self.waiters.lock();
                while !batch.is_full() {
                    let Some(w) = list.pop_front() else { break };
                    batch.push(notify_locked(&mut list, w));
                }
                self.waiters.set_queued(&mut list);
                list.is_empty()
            };
            batch.wake_all();
            if done {
                return;
            }
        }
    }

    /// Acquires one permit now, or fails without waiting.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] if none is free (or others are queued for them),
    /// [`TryAcquireError::Closed`] if closed.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(1);
    /// let p = sem.try_acquire().unwrap();
    /// assert_eq!(sem.try_acquire().unwrap_err(), sluicebox::TryAcquireError::NoPermits);
    /// drop(p);
    /// assert!(sem.try_acquire().is_ok());
    /// ```
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Acquires `n` permits now, or fails without waiting.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire), and [`TryAcquireError::TooManyPermits`] if
    /// `n > MAX_PERMITS`.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(5);
    /// let p = sem.try_acquire_many(3).unwrap();
    /// assert_eq!(p.permits(), 3);
    /// assert!(sem.try_acquire_many(3).is_err());
    /// ```
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        if n > Self::MAX_PERMITS {
            return Err(TryAcquireError::TooManyPermits);
        }
        match self.try_take(n) {
            Ok(()) => Ok(SemaphorePermit::new(self, n)),
            Err(closed) => Err(if closed {
                TryAcquireError::Closed
            } else {
                TryAcquireError::NoPermits
            }),
        }
    }

    /// Takes `n` free permits. `Err(true)` if closed, `Err(false)` if too few are free.
    fn try_take(&self, n: usize) -> Result<(), bool> {
        // Acquire: see the permits released before (and the state they protected).
        let mut cur = self.permits.load(Ordering::Acquire);
        loop {
            if cur & CLOSED != 0 {
                return Err(true);
            }
            if cur >> SHIFT < n {
                return Err(false);
            }
            // AcqRel: acquire what the releaser published; release is harmless.
            match self.permits.compare_exchange_weak(
                cur,
                cur - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes up to `n` free permits; returns how many (never fails; 0 if closed).
    fn take_some(&self, n: usize) -> usize {
        self.take_up_to(n, false)
    }

    /// Takes up to `n` free permits, also from a closed semaphore if `even_closed`;
    /// returns how many.
    fn take_up_to(&self, n: usize, even_closed: bool) -> usize {
        // Acquire: as in `try_take`.
        let mut cur = self.permits.load(Ordering::Acquire);
        loop {
            let take = (cur >> SHIFT).min(n);
            if take == 0 || (cur & CLOSED != 0 && !even_closed) {
                return 0;
            }
            // AcqRel: as in `try_take`.
            match self.permits.compare_exchange_weak(
                cur,
                cur - (take << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Acquires one permit, waiting in FIFO order.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if the semaphore is (or becomes) closed.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a dropped `acquire` gives back any permits already assigned to it
    /// (and passes them on to the next waiter), and loses its place in the queue.
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem = sluicebox::Semaphore::new(1);
    /// let permit = sem.acquire().await.unwrap();
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(permit);
    /// assert_eq!(sem.available_permits(), 1);
    /// # });
    /// ```
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Acquires `n` permits at once, waiting in FIFO order.
    ///
    /// # Errors
    ///
    /// [`AcquireError::Closed`] if closed; [`AcquireError::TooManyPermits`] at once if
    /// `n > MAX_PERMITS` (it could never succeed).
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// ```
    /// # futures::executor::block_on(async {
    /// let sem = sluicebox::Semaphore::new(4);
    /// let p = sem.acquire_many(3).await.unwrap();
    /// assert_eq!((p.permits(), sem.available_permits()), (3, 1));
    /// let err = sem.acquire_many(usize::MAX).await.unwrap_err();
    /// assert_eq!(err, sluicebox::AcquireError::TooManyPermits);
    /// # });
    /// ```
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            wanted: n,
            queued: false,
            waiter: Waiter::new(),
        }
    }

    /// Acquires one permit, parking the current thread while waiting. For plain threads:
    /// never call it from async code (it would block the executor's worker); there, use
    /// [`acquire`](Self::acquire).
    ///
    /// # Errors
    ///
    /// As [`acquire`](Self::acquire).
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(1);
    /// let p = sem.acquire_blocking().unwrap();
    /// assert_eq!(p.permits(), 1);
    /// ```
    #[cfg(feature = "std")]
    pub fn acquire_blocking(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many_blocking(1)
    }

    /// Acquires `n` permits, parking the current thread while waiting. For plain threads,
    /// as [`acquire_blocking`](Self::acquire_blocking).
    ///
    /// # Errors
    ///
    /// As [`acquire_many`](Self::acquire_many).
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(3);
    /// let p = sem.acquire_many_blocking(2).unwrap();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    #[cfg(feature = "std")]
    pub fn acquire_many_blocking(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError> {
        let acquire = core::pin::pin!(self.acquire_many(n));
        let thread = crate::loom::current_thread();
        // SAFETY: `acquire` is pinned on this frame and dropped (unregistered) before it
        // returns; we never move it.
        let acquire = unsafe { acquire.get_unchecked_mut() };
        loop {
            // SAFETY: as above.
            let waiter = unsafe { Pin::new_unchecked(&acquire.waiter) };
            let poll = self.poll_acquire(
                waiter,
                acquire.wanted,
                &mut acquire.queued,
                WakeRef::Thread(&thread),
            );
            match poll {
                Poll::Ready(r) => return r.map(|()| SemaphorePermit::new(self, n)),
                Poll::Pending => crate::loom::park(),
            }
        }
    }

    /// Removes up to `n` free permits for good, and returns how many it removed (fewer
    /// than `n` if fewer are free; permits held by guards are not touched). tokio's
    /// `Semaphore::forget_permits`. Works on a closed semaphore too.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(5);
    /// let held = sem.try_acquire_many(2).unwrap();
    /// assert_eq!(sem.forget_permits(4), 3); // only 3 were free
    /// assert_eq!(sem.available_permits(), 0);
    /// drop(held); // held permits come back as usual
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn forget_permits(&self, n: usize) -> usize {
        self.take_up_to(n, true)
    }

    /// Adds `n` permits: to the waiters first (in queue order), the rest to the free count.
    ///
    /// # Panics
    ///
    /// If the free count would exceed [`MAX_PERMITS`](Self::MAX_PERMITS). This is checked
    /// before any permit is handed out, so a call that panics adds nothing — unless a
    /// concurrent `add_permits` or release pushes the count past the maximum meanwhile;
    /// then the permits already given to waiters stay given and the rest are not added.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(0);
    /// sem.add_permits(2);
    /// assert_eq!(sem.available_permits(), 2);
    /// ```
    pub fn add_permits(&self, n: usize) {
        let free = self.available_permits();
        assert!(
            n <= Self::MAX_PERMITS - free.min(Self::MAX_PERMITS),
            "sluicebox: adding {n} permits to {free} would exceed Semaphore::MAX_PERMITS"
        );
        self.release(n);
    }

    /// Gives `n` permits back (invariant 3).
    fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // A hint without the fence: waiters seen here get the permits straight away (FIFO).
        // One missed (it queued concurrently, or the read is stale) is caught by the fenced
        // check below, which moves the freed permits to it: the fence is paid once per
        // release, not twice.
        if self.waiters.waiting_hint() {
            self.distribute(n);
            return;
        }
        self.add_free(n);
        if self.waiters.anyone_waiting() {
            self.distribute(0);
        }
    }

    /// Adds `n` to the free counter, panicking past the maximum.
    fn add_free(&self, n: usize) {
        // Relaxed: validated by the CAS.
        let mut cur = self.permits.load(Ordering::Relaxed);
        loop {
            let free = cur >> SHIFT;
            assert!(
                n <= Self::MAX_PERMITS - free,
                "sluicebox: adding {n} permits to {free} would exceed Semaphore::MAX_PERMITS"
            );
            // Release: publish what the permit holder did to the next acquirer. The release
            // path's fence follows for invariant 3.
            match self.permits.compare_exchange_weak(
                cur,
                cur + (n << SHIFT),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Gives `n` permits, plus every free one, to the queued waiters front-first; what is
    /// left becomes free. Satisfied waiters are woken after the lock is released, in
    /// batches.
    #[cold]
    fn distribute(&self, n: usize) {
        /// Permits not yet handed out. If a waker panics, the unwinding hands them out
        /// (or frees them): no permit is lost.
        struct Rest<'a> {
            sem: &'a Semaphore,
            n: usize,
        }
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                if self.n > 0 {
                    self.sem.distribute(core::mem::take(&mut self.n));
                }
            }
        }
        let mut rest = Rest { sem: self, n };
        let n = &mut rest.n;
        loop {
            let mut batch = WakeBatch::new();
            let more = {
                let mut list = self.waiters.lock();
                *n += self.take_some(usize::MAX);
                while *n > 0 && !batch.is_full() {
                    let Some(front) = list.front() else { break };
                    // SAFETY: `front` is linked, hence alive; we hold the lock.
                    let node = unsafe { list.node(front) };
                    let give = node.wanted.min(*n);
                    node.wanted -= give;
                    *n -= give;
                    if node.wanted > 0 {
                        break;
                    }
                    list.pop_front();
                    batch.push(notify_locked(&mut list, front));
                }
                self.waiters.set_queued(&mut list);
                if *n > 0 && list.is_empty() {
                    // Taken out of `rest` first: if this panics (past MAX_PERMITS), the
                    // unwinding must not try to add them again.
                    self.add_free(core::mem::take(n));
                }
                *n > 0
            };
            batch.wake_all();
            if !more {
                return;
            }
        }
    }

    /// One step of acquiring `n` permits for `waiter`; `queued` says whether it is in the
    /// wait list (or was, and has an unconsumed grant).
    #[inline]
    fn poll_acquire(
        &self,
        waiter: Pin<&Waiter>,
        n: usize,
        queued: &mut bool,
        target: WakeRef<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        // Fast path, inlined into the caller: nobody queued ahead of us (FIFO; a hint,
        // the slow path decides under the lock), enough free permits.
        if !*queued && n <= Self::MAX_PERMITS && !self.waiters.waiting_hint() {
            match self.try_take(n) {
                Ok(()) => return Poll::Ready(Ok(())),
                Err(true) => return Poll::Ready(Err(AcquireError::Closed)),
                Err(false) => {}
            }
        }
        self.poll_acquire_slow(waiter, n, queued, target)
    }

    /// [`poll_acquire`](Self::poll_acquire) past its fast path: queue, or look at the
    /// grant.
    #[inline(never)]
    fn poll_acquire_slow(
        &self,
        waiter: Pin<&Waiter>,
        n: usize,
        queued: &mut bool,
        target: WakeRef<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        if n > Self::MAX_PERMITS {
            return Poll::Ready(Err(AcquireError::TooManyPermits));
        }
        if !*queued {
            let ptr = NonNull::from(waiter.get_ref());
            // Cloned before the lock (user code: `Waker::clone`), so a clone that panics
            // leaves no permit taken and the lock untouched (PITFALLS
            // `user-code-under-lock`). Dropped after the lock if unused.
            let fresh = target.to_owned();
            let replaced = {
                let mut list = self.waiters.lock();
                if self.is_closed() {
                    return Poll::Ready(Err(AcquireError::Closed));
                }
                // Take free permits only if nobody is ahead of us (invariant 2).
                let got = if list.is_empty() {
                    self.take_some(n)
                } else {
                    0
                };
                // SAFETY: our own pinned waiter, alive; we hold the lock.
                let node = unsafe { list.node(ptr) };
                if got == n {
                    // The unused copy waits in our (idle, unlinked) node and is dropped
                    // with the future, after the permit exists: no user code between
                    // taking the permits and handing them over. An idle node normally
                    // holds no target (notifiers and `cancel` take it), but a completed
                    // `Acquire` polled again still holds the copy of its first poll: that
                    // one is dropped after unlocking (user code: `Waker::drop`).
                    let old = node.target.replace(fresh);
                    drop(list);
                    drop(old);
                    return Poll::Ready(Ok(()));
                }
                node.wanted = n - got;
                let replaced = node.target.replace(fresh);
                waiter.set_state(State::Queued);
                // SAFETY: pinned, not linked (never queued), unregistered in `Drop`.
                unsafe { list.push_back(ptr) };
                self.waiters.set_queued(&mut list);
                replaced
            };
            drop(replaced);
            *queued = true;
            // SeqCst fence: invariant 3 — our queueing is ordered before the re-check of
            // the free count, pairing with the releaser's fence.
            crate::loom::fence(Ordering::SeqCst);
            if self.available_permits() > 0 {
                self.distribute(0);
            }
        }
        // A waker copy made with the lock released, for a queued waiter whose waker
        // changed (see `WakeRef::refresh`).
        let mut fresh = None;
        loop {
            match waiter.state() {
                // The semaphore never hands out batons or grants: both are `Notified`
                // here.
                State::Notified | State::Baton | State::Granted => {
                    waiter.set_state(State::Idle);
                    *queued = false;
                    // SAFETY: a notified waiter is touched by nobody but its owner (us);
                    // see `State`.
                    let still_wanted = unsafe { waiter.node_mut() }.wanted;
                    if still_wanted == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    // Woken by `close` before all permits arrived: give back the rest.
                    self.release(n - still_wanted);
                    return Poll::Ready(Err(AcquireError::Closed));
                }
                State::Queued => {
                    let ptr = NonNull::from(waiter.get_ref());
                    let refreshed = {
                        let mut list = self.waiters.lock();
                        if waiter.state() != State::Queued {
                            continue;
                        }
                        // SAFETY: our own linked waiter; we hold the lock.
                        target.refresh(unsafe { list.node(ptr) }, &mut fresh)
                    };
                    match refreshed {
                        Ok(replaced) => {
                            drop(replaced);
                            drop(fresh);
                            return Poll::Pending;
                        }
                        // A new waker: clone it with the lock released, then try again.
                        Err(()) => fresh = Some(target.to_owned()),
                    }
                }
                State::Idle => unreachable!("sluicebox: semaphore waiter lost its grant"),
            }
        }
    }

    /// A pending acquire of `n` is dropped: leave the queue and give back what was
    /// assigned (invariant 4).
    fn cancel(&self, waiter: Pin<&Waiter>, n: usize) {
        let ptr = NonNull::from(waiter.get_ref());
        let (assigned, own) = {
            let mut list = self.waiters.lock();
            // SAFETY: our own waiter; we hold the lock (and if it is notified, nobody else
            // touches it anyway).
            let node = unsafe { list.node(ptr) };
            let assigned = n - node.wanted;
            let own = node.target.take();
            if waiter.state() == State::Queued {
                // SAFETY: Queued means linked into this list.
                unsafe { list.remove(ptr) };
                self.waiters.set_queued(&mut list);
            }
            waiter.set_state(State::Idle);
            (assigned, own)
        };
        drop(own);
        self.release(assigned);
    }
}

/// Marks `waiter` (already unlinked) notified and returns its wake target.
fn notify_locked(list: &mut List, waiter: NonNull<Waiter>) -> Option<WakeTarget> {
    // SAFETY: the waiter was linked, hence alive; we hold the lock.
    let target = unsafe { list.node(waiter) }.target.take();
    // SAFETY: as above. `Notified` is our last touch of the node.
    unsafe { waiter.as_ref() }.set_state(State::Notified);
    target
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .field("waiting", &self.waiting())
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
///
/// `!Unpin`: it embeds its wait-list node.
///
/// ```compile_fail
/// fn assert_unpin<T: Unpin>(_: T) {}
/// let sem = sluicebox::Semaphore::new(1);
/// assert_unpin(sem.acquire());
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    wanted: usize,
    queued: bool,
    waiter: Waiter,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `waiter` is never moved out of the pinned future; the other fields are
        // plain data, not structurally pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above.
        let waiter = unsafe { Pin::new_unchecked(&this.waiter) };
        let sem = this.sem;
        let n = this.wanted;
        let queued = &mut this.queued;
        crate::coop::budgeted(cx, |cx| {
            sem.poll_acquire(waiter, n, queued, WakeRef::Task(cx.waker()))
                .map(|r| r.map(|()| SemaphorePermit::new(sem, n)))
        })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        if self.queued {
            // SAFETY: `drop` runs before the pinned future's memory is reused.
            let waiter = unsafe { Pin::new_unchecked(&self.waiter) };
            self.sem.cancel(waiter, self.wanted);
        }
    }
}

impl fmt::Debug for Acquire<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("wanted", &self.wanted)
            .field("queued", &self.queued)
            .finish()
    }
}

/// Permits held from a [`Semaphore`]; dropping gives them back.
#[must_use = "dropping a permit gives it back at once"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl<'a> SemaphorePermit<'a> {
    fn new(sem: &'a Semaphore, permits: usize) -> Self {
        Self { sem, permits }
    }

    /// How many permits this guard holds.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(3);
    /// assert_eq!(sem.try_acquire_many(2).unwrap().permits(), 2);
    /// ```
    pub fn permits(&self) -> usize {
        self.permits
    }

    /// Keeps the permits taken for good: they are not given back.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(2);
    /// sem.try_acquire().unwrap().forget();
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn forget(mut self) {
        self.permits = 0;
    }

    /// Splits `n` permits off into a new guard, or `None` if this one holds fewer.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(3);
    /// let mut p = sem.try_acquire_many(3).unwrap();
    /// let q = p.split(1).unwrap();
    /// assert_eq!((p.permits(), q.permits()), (2, 1));
    /// drop(q);
    /// assert_eq!(sem.available_permits(), 1);
    /// ```
    pub fn split(&mut self, n: usize) -> Option<Self> {
        if n > self.permits {
            return None;
        }
        self.permits -= n;
        Some(Self::new(self.sem, n))
    }

    /// Merges another guard of the same semaphore into this one.
    ///
    /// # Panics
    ///
    /// If `other` belongs to a different semaphore.
    ///
    /// ```
    /// let sem = sluicebox::Semaphore::new(2);
    /// let mut a = sem.try_acquire().unwrap();
    /// a.merge(sem.try_acquire().unwrap());
    /// assert_eq!(a.permits(), 2);
    /// ```
    pub fn merge(&mut self, mut other: Self) {
        assert!(
            core::ptr::eq(self.sem, other.sem),
            "sluicebox: merging permits of different semaphores"
        );
        self.permits += core::mem::take(&mut other.permits);
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.release(self.permits);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

#[cfg(feature = "alloc")]
mod owned {
    use super::*;
    use alloc::sync::Arc;

    /// Permits held from an `Arc<Semaphore>`: `'static`, so they can move into spawned
    /// tasks. Dropping gives them back.
    #[must_use = "dropping a permit gives it back at once"]
    pub struct OwnedSemaphorePermit {
        sem: Arc<Semaphore>,
        permits: usize,
    }

    impl OwnedSemaphorePermit {
        /// How many permits this guard holds.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(2));
        /// assert_eq!(sem.try_acquire_owned().unwrap().permits(), 1);
        /// ```
        pub fn permits(&self) -> usize {
            self.permits
        }

        /// Keeps the permits taken for good.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(2));
        /// sem.clone().try_acquire_owned().unwrap().forget();
        /// assert_eq!(sem.available_permits(), 1);
        /// ```
        pub fn forget(mut self) {
            self.permits = 0;
        }

        /// The semaphore these permits belong to.
        pub fn semaphore(&self) -> &Arc<Semaphore> {
            &self.sem
        }

        /// Splits `n` permits off into a new guard, or `None` if this one holds fewer.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(3));
        /// let mut p = sem.clone().try_acquire_many_owned(3).unwrap();
        /// let q = p.split(1).unwrap();
        /// assert_eq!((p.permits(), q.permits()), (2, 1));
        /// drop(q);
        /// assert_eq!(sem.available_permits(), 1);
        /// ```
        pub fn split(&mut self, n: usize) -> Option<Self> {
            if n > self.permits {
                return None;
            }
            self.permits -= n;
            Some(Self {
                sem: Arc::clone(&self.sem),
                permits: n,
            })
        }

        /// Merges another guard of the same semaphore into this one.
        ///
        /// # Panics
        ///
        /// If `other` belongs to a different semaphore.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(2));
        /// let mut a = sem.clone().try_acquire_owned().unwrap();
        /// a.merge(sem.clone().try_acquire_owned().unwrap());
        /// assert_eq!(a.permits(), 2);
        /// ```
        pub fn merge(&mut self, mut other: Self) {
            assert!(
                Arc::ptr_eq(&self.sem, &other.sem),
                "sluicebox: merging permits of different semaphores"
            );
            self.permits += core::mem::take(&mut other.permits);
        }
    }

    impl Drop for OwnedSemaphorePermit {
        fn drop(&mut self) {
            self.sem.release(self.permits);
        }
    }

    impl fmt::Debug for OwnedSemaphorePermit {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("OwnedSemaphorePermit")
                .field("permits", &self.permits)
                .finish()
        }
    }

    impl Semaphore {
        /// Like [`acquire`](Semaphore::acquire), with a `'static` permit.
        ///
        /// # Errors
        ///
        /// As `acquire`.
        ///
        /// # Cancel safety
        ///
        /// As `acquire`.
        ///
        /// ```
        /// # futures::executor::block_on(async {
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(1));
        /// let permit = sem.clone().acquire_owned().await.unwrap();
        /// std::thread::spawn(move || drop(permit)).join().unwrap();
        /// assert_eq!(sem.available_permits(), 1);
        /// # });
        /// ```
        pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
            self.acquire_many_owned(1).await
        }

        /// Like [`acquire_many`](Semaphore::acquire_many), with a `'static` permit.
        ///
        /// # Errors
        ///
        /// As `acquire_many`.
        ///
        /// # Cancel safety
        ///
        /// As `acquire`.
        ///
        /// ```
        /// # futures::executor::block_on(async {
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(3));
        /// let permit = sem.clone().acquire_many_owned(2).await.unwrap();
        /// assert_eq!(permit.permits(), 2);
        /// # });
        /// ```
        pub async fn acquire_many_owned(
            self: Arc<Self>,
            n: usize,
        ) -> Result<OwnedSemaphorePermit, AcquireError> {
            let permits = self.acquire_many(n).await?;
            let n = permits.permits;
            permits.forget();
            Ok(OwnedSemaphorePermit {
                sem: self,
                permits: n,
            })
        }

        /// Like [`acquire_blocking`](Semaphore::acquire_blocking), with a `'static`
        /// permit (tokio's `blocking_acquire_owned`, async-lock's
        /// `acquire_arc_blocking`).
        ///
        /// For plain threads: it parks the calling thread, so never call it from async
        /// code (it would block the executor's worker); there, use
        /// [`acquire_owned`](Semaphore::acquire_owned).
        ///
        /// # Errors
        ///
        /// As `acquire`.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(1));
        /// let permit = sem.clone().acquire_owned_blocking().unwrap();
        /// let t = std::thread::spawn(move || drop(permit));
        /// let again = sem.clone().acquire_owned_blocking().unwrap(); // waits for the thread
        /// t.join().unwrap();
        /// assert_eq!(again.permits(), 1);
        /// ```
        #[cfg(feature = "std")]
        pub fn acquire_owned_blocking(
            self: Arc<Self>,
        ) -> Result<OwnedSemaphorePermit, AcquireError> {
            self.acquire_many_owned_blocking(1)
        }

        /// Like [`acquire_many_blocking`](Semaphore::acquire_many_blocking), with a
        /// `'static` permit. For plain threads, as
        /// [`acquire_owned_blocking`](Semaphore::acquire_owned_blocking).
        ///
        /// # Errors
        ///
        /// As `acquire_many`.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(3));
        /// let permit = sem.clone().acquire_many_owned_blocking(2).unwrap();
        /// assert_eq!((permit.permits(), sem.available_permits()), (2, 1));
        /// ```
        #[cfg(feature = "std")]
        pub fn acquire_many_owned_blocking(
            self: Arc<Self>,
            n: usize,
        ) -> Result<OwnedSemaphorePermit, AcquireError> {
            let permits = self.acquire_many_blocking(n)?;
            permits.forget();
            Ok(OwnedSemaphorePermit {
                sem: self,
                permits: n,
            })
        }

        /// Like [`try_acquire`](Semaphore::try_acquire), with a `'static` permit.
        ///
        /// # Errors
        ///
        /// As `try_acquire`.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(1));
        /// let p = sem.clone().try_acquire_owned().unwrap();
        /// assert!(sem.clone().try_acquire_owned().is_err());
        /// ```
        pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
            self.try_acquire_many_owned(1)
        }

        /// Like [`try_acquire_many`](Semaphore::try_acquire_many), with a `'static` permit.
        ///
        /// # Errors
        ///
        /// As `try_acquire_many`.
        ///
        /// ```
        /// let sem = std::sync::Arc::new(sluicebox::Semaphore::new(3));
        /// assert_eq!(sem.try_acquire_many_owned(2).unwrap().permits(), 2);
        /// ```
        pub fn try_acquire_many_owned(
            self: Arc<Self>,
            n: usize,
        ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
            let permits = self.try_acquire_many(n)?;
            permits.forget();
            Ok(OwnedSemaphorePermit {
                sem: self,
                permits: n,
            })
        }
    }
}

#[cfg(feature = "alloc")]
pub use owned::OwnedSemaphorePermit;
