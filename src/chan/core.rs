//! The channel's shared state, written once for every storage.
//!
//! # Waking the other side
//!
//! Every operation that publishes a slot (an item pushed, a slot freed) may have to wake
//! a waiter of the other side. How it learns whether anyone waits differs by path:
//!
//! - **Immediate push and pop** (`send`, `recv`, `try_*`, the blocking calls) read the
//!   wait flag from the CAS that claims their slot (wait-list invariant 4b): nobody
//!   waiting costs nothing beyond the claim itself. Measured on the 2-core VM, this took
//!   the uncontended `try_send` + `try_recv` pair from 44 to ~26 ns and halved the
//!   contended async rows (README, Performance).
//! - **Permits** (`Permit::send`, a dropped permit) and **close** fence and read the wait
//!   list's count (wait-list invariant 4). A permit holds room, not a place in line
//!   (ring invariant 5): receivers never wait on one, but after a close they wait for
//!   every permit still out to be sent or dropped, so a dropped permit wakes a receiver
//!   as well as a sender once the channel is closed.
//!
//! # Handing room to a woken sender
//!
//! A sender woken because a dropped permit gave its room back is handed that room: the
//! permit's drop reserves it again, under the send list's lock, for the sender it wakes
//! (wait-list invariant 6), so a fresh `try_send` cannot take it first (tokio's
//! `reserve_disarm`). A sender woken by a *pop* is not: handing it the room would leave
//! the room idle until the woken task runs, while producers that are running find the
//! channel full and park. Measured on the 2-core VM (interleaved rounds, medians,
//! `scripts/bench_ab.py --bins`), handing room over on pops made the contended rows
//! slower: tokio MPSC 4x1 at capacity 64 82.1 against 70.6 ns/message without it (65.8
//! before reservations), smol 74.3 against 65.7 (64.6). So pops barge, as
//! async-channel's and crossbeam's do, and a woken sender that loses the room goes back to
//! the front of the line.
//!
//! # Waiting out a slot in flight
//!
//! Invariant 4b has a price: a waiter whose retry finds the slot it needs claimed by an
//! immediate push or pop but not yet published must not park, since that publisher may
//! have claimed before the waiter raised its flag. With `std` (the default) it waits the
//! write out: the claim-to-publish window is a few instructions with no user code in
//! it, and an OS-scheduled thread always finishes it ([`WAIT_OUT_IN_FLIGHT`]).
//!
//! Without `std` (bare metal), and with the `critical-section` feature on any target, a
//! waiter may run in an interrupt handler above the very code it would wait for, which
//! then never finishes. So there the immediate path
//! fences like the permit path, and a waiter parks at a slot in flight and passes the
//! baton when it gets through (wait-list invariant 3a). The `try_*` calls never wait
//! anything out on any target: after a bounded backoff they report Full / Empty.

use super::error::{TryRecvError, TrySendError};
use crate::loom::{fence, AtomicUsize, Backoff, Ordering};
use crate::ring::{Claim, End, Oldest, PopError, PushError, Ring, Slot};
use crate::stats::Stats;
use crate::wait::{Beacon, WaitList, WakeTarget};

/// Whether waiters wait out a slot claimed by an immediate push or pop, and immediate
/// publishers wake by the wait flag alone (see "Waiting out a slot in flight" above).
///
/// `critical-section` (interrupt handlers may use the channel, also on a `std` target
/// such as ESP-IDF) selects the bare-metal protocol. `--cfg sluicebox_fenced` forces it
/// on `std` too, so the loom models (which need `std` for threads) check both.
pub(crate) const WAIT_OUT_IN_FLIGHT: bool = cfg!(all(
    feature = "std",
    not(feature = "critical-section"),
    not(sluicebox_fenced)
));

/// The flag in `Chan::receivers` that says the last receiver is gone: nobody can receive
/// any more, so what is published from now on is dropped at once (PITFALLS
/// `permit-after-close`). A count of zero alone does not say it: a static channel has no
/// receiver until its first is made, and queues for it meanwhile.
const GONE: usize = 1 << (usize::BITS - 1);

/// The state every handle of one channel shares, apart from its slots: the ring's
/// positions, the handle counts, the slow-path counters and the three wait lists. It
/// names no item type, so one `Core` serves every `T` and every storage.
///
/// Closing is the `mark` bit in the ring's tail, so "closed" and "no more pushes" are one
/// atomic fact. Items still queued when the channel closes stay receivable.
pub(crate) struct Core {
    ring: Ring,
    /// Live `Sender`s. The channel closes when this drops to zero.
    senders: AtomicUsize,
    /// Live `Receiver`s, plus [`GONE`] once the count has dropped to zero. The channel
    /// closes (and drops its items) when the count drops to zero.
    receivers: AtomicUsize,
    /// `try_send` calls that found the channel full (slow path only).
    rejected: AtomicUsize,
    /// Items evicted by `force_send` (slow path only).
    evicted: AtomicUsize,
    /// Sends that gave up while waiting: a send future dropped while queued, a blocking
    /// send that timed out (slow path only).
    abandoned: AtomicUsize,
    /// Live `WeakSender`s.
    weak_senders: AtomicUsize,
    /// Live `WeakReceiver`s.
    weak_receivers: AtomicUsize,
    /// Senders waiting for a free slot.
    pub(crate) send_waiters: WaitList,
    /// Receivers waiting for an item.
    pub(crate) recv_waiters: WaitList,
    /// `closed()` futures: woken only by close, so they never swallow a slot wakeup.
    pub(crate) close_waiters: WaitList,
}

impl core::fmt::Debug for Core {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Core")
            .field("ring", &self.ring)
            .field("senders", &self.senders)
            .field("receivers", &self.receivers)
            .finish_non_exhaustive()
    }
}

impl Core {
    crate::loom::const_fn! {
        /// The state of a channel of `capacity` slots whose ring starts at `start_lap`.
        pub(crate) const fn new(capacity: usize, start_lap: usize) -> Self {
            Self {
                ring: Ring::new(capacity, start_lap),
                senders: AtomicUsize::new(0),
                receivers: AtomicUsize::new(0),
                rejected: AtomicUsize::new(0),
                evicted: AtomicUsize::new(0),
                abandoned: AtomicUsize::new(0),
                weak_senders: AtomicUsize::new(0),
                weak_receivers: AtomicUsize::new(0),
                send_waiters: WaitList::new(),
                recv_waiters: WaitList::new(),
                close_waiters: WaitList::new(),
            }
        }
    }
}

/// A channel as its handles, futures and permits see it: the shared [`Core`] and the
/// slots, borrowed for `'a`. Storage-erased: a `static` array and a heap box give the
/// same `Chan<'a, T>`, so every type that holds one names only `'a` and `T`, and no
/// trait bound relates the storage to `T` (such a bound makes futures lose `Send` for
/// payloads with lifetimes inside `tokio::spawn`: PITFALLS `lifetime-payload`).
pub(crate) struct Chan<'a, T> {
    core: &'a Core,
    slots: &'a [Slot<T>],
}

impl<T> Clone for Chan<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Chan<'_, T> {}

// SAFETY: the channel moves `T`s between threads (so `T: Send`), never shares a `&T`
// (so no `T: Sync`). All shared state is atomics, the lock-guarded wait lists, and slots
// whose values are accessed only by the thread that claimed them (ring invariant 3).
unsafe impl<T: Send> Send for Chan<'_, T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for Chan<'_, T> {}

impl<T> core::ops::Deref for Chan<'_, T> {
    type Target = Core;

    #[inline]
    fn deref(&self) -> &Core {
        self.core
    }
}

impl<T> core::fmt::Debug for Chan<'_, T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.core.fmt(f)
    }
}

impl<'a, T> Chan<'a, T> {
    /// A view of `core` over `slots`, which must be the slots it was made for.
    #[inline]
    pub(crate) fn new(core: &'a Core, slots: &'a [Slot<T>]) -> Self {
        debug_assert_eq!(slots.len(), core.ring.capacity());
        Self { core, slots }
    }

    /// A view of `core` with no slots, for the read-only methods (`stats`, `len`, ...),
    /// which never touch a slot: `AnyMonitor`, which does not know the item type. Any
    /// slot access through it would be an index out of bounds (a panic), never UB.
    #[cfg(not(loom))]
    pub(crate) fn without_slots(core: &'a Core) -> Self {
        Self { core, slots: &[] }
    }

    #[inline]
    fn slots(&self) -> &'a [Slot<T>] {
        self.slots
    }

    /// Whether `self` and `other` are views of one channel.
    pub(crate) fn same(&self, other: &Self) -> bool {
        core::ptr::eq(self.core, other.core)
    }

    /// Pushes and wakes one receiver. Does not count rejections. Always inlined: with the
    /// ring's slow paths out of line it is a few instructions, and a call here was a
    /// sixth of an async send (callgrind).
    #[inline(always)]
    pub(crate) fn push(&self, value: T) -> Result<(), PushError<T>> {
        let waiting = match self.ring.claim_tail(self.slots()) {
            Ok(claim) => {
                let waiting = claim.waiting;
                claim.put(value);
                waiting
            }
            Err(why) => return Err(PushError::new(why, value)),
        };
        if let Some(receiver) = self.waiter_to_wake(&self.recv_waiters, End::Tail, waiting) {
            receiver.wake();
        }
        if !WAIT_OUT_IN_FLIGHT {
            // The last receiver may have left while we wrote (PITFALLS `send-then-drop`).
            self.drain_if_unreceivable();
        }
        Ok(())
    }

    /// A slot was freed by a pop whose CAS read the sender-wait flag as `waiting`: wake
    /// one sender for it. The room is not handed to it: whoever claims first gets it,
    /// and a woken sender that loses keeps its place at the front (see "Handing room to
    /// a woken sender" below). The caller may hold an item it took (a pop, a drop-oldest
    /// swap), so a waker that panics must not unwind through it: see
    /// [`WakeTarget::wake_contained`].
    #[inline]
    fn freed_slot(&self, waiting: bool) {
        if let Some(sender) = self.waiter_to_wake(&self.send_waiters, End::Head, waiting) {
            sender.wake_contained();
        }
    }

    /// Under the send list's lock, for the sender about to be woken: reserves the room
    /// it is woken for, so that a fresh send cannot take it first (wait-list invariant
    /// 6). One CAS, no waiting: `false` if the room is gone already (a barging send took
    /// it), or the CAS lost a race; the sender is then woken to retry, as without grants.
    fn grant_room(&self) -> bool {
        self.ring.reserve_now(self.slots())
    }

    /// Takes the waiter of `list` to wake after an immediate push or pop whose claim CAS
    /// read the wait flag in `end`'s word as `waiting`: by that flag with `std`, by the
    /// fenced check without (see "Waking the other side"). The caller wakes it.
    #[inline]
    fn waiter_to_wake(&self, list: &WaitList, end: End, waiting: bool) -> Option<WakeTarget> {
        if WAIT_OUT_IN_FLIGHT {
            if waiting {
                return list.take_one_flagged(|| self.ring.lower_waiting(end));
            }
            None
        } else {
            list.take_one()
        }
    }

    /// Pops and wakes one sender. Always inlined, as `push`.
    #[inline(always)]
    pub(crate) fn pop(&self) -> Result<T, PopError> {
        let claim = self.ring.claim_head(self.slots())?;
        let waiting = claim.waiting;
        let value = claim.take();
        self.freed_slot(waiting);
        Ok(value)
    }

    /// [`push`](Self::push) for a caller that waits when it fails: a pop in flight at the
    /// slot is waited out (see "Waiting out a slot in flight"); `InFlight` comes back only
    /// without `std`.
    #[inline]
    pub(crate) fn push_waiting(&self, value: T) -> Result<(), PushError<T>> {
        let backoff = Backoff::new();
        let mut value = value;
        loop {
            match self.push(value) {
                Err(PushError::InFlight(v)) if WAIT_OUT_IN_FLIGHT => {
                    value = v;
                    backoff.snooze();
                }
                other => return other,
            }
        }
    }

    /// [`pop`](Self::pop) for a caller that waits when it fails, as for `push_waiting`.
    #[inline]
    pub(crate) fn pop_waiting(&self) -> Result<T, PopError> {
        let backoff = Backoff::new();
        loop {
            match self.pop() {
                Err(PopError::InFlight) if WAIT_OUT_IN_FLIGHT => backoff.snooze(),
                other => return other,
            }
        }
    }

    /// Reserves room for a permit (ring invariant 5).
    #[inline]
    pub(crate) fn reserve(&self) -> Result<(), Claim> {
        self.ring.reserve(self.slots())
    }

    /// [`reserve`](Self::reserve) for a caller that waits when it fails, as for
    /// `push_waiting`.
    #[inline]
    pub(crate) fn reserve_waiting(&self) -> Result<(), Claim> {
        let backoff = Backoff::new();
        loop {
            match self.reserve() {
                Err(Claim::InFlight) if WAIT_OUT_IN_FLIGHT => backoff.snooze(),
                other => return other,
            }
        }
    }

    /// The beacon senders raise when they wait (wait-list invariant 4b).
    pub(crate) fn send_beacon(&self) -> WaitFlag<'_> {
        WaitFlag(&self.ring, End::Head)
    }

    /// The beacon receivers raise when they wait.
    pub(crate) fn recv_beacon(&self) -> WaitFlag<'_> {
        WaitFlag(&self.ring, End::Tail)
    }

    /// Sends `value` with a permit's reservation: it queues behind everything sent
    /// before it (ring invariant 5).
    ///
    /// If every receiver is gone by now, the value is not left behind in a channel nobody
    /// reads: it (and anything queued with it) is dropped at once (PITFALLS
    /// `permit-after-close`).
    ///
    /// # Safety
    /// The caller owns a reservation made by [`reserve`](Self::reserve) and consumes it
    /// here: each reservation is sent or given back once.
    pub(crate) unsafe fn send_reserved(&self, value: T) {
        // SAFETY: the caller's contract.
        if unsafe { self.ring.send_reserved(self.slots(), value) } {
            self.last_reservation_ended();
        } else {
            self.recv_waiters.notify_one();
        }
        self.drain_if_unreceivable();
    }

    /// Gives a permit's reservation back (the permit was dropped unused): its room is
    /// free at once, for a parked sender.
    ///
    /// Out of line: it is the release hook of every sending future's `Drop` (for a grant
    /// never used), and inlined there it made that `Drop` too big to inline into the
    /// send itself (callgrind: 13 instructions per async send).
    ///
    /// # Safety
    /// As for [`send_reserved`](Self::send_reserved).
    #[inline(never)]
    pub(crate) unsafe fn give_back(&self) {
        // SAFETY: the caller's contract.
        if unsafe { self.ring.give_back() } {
            self.last_reservation_ended();
        }
        if let Some(sender) = self.send_waiters.take_one_granting(|| self.grant_room()) {
            sender.wake();
        }
    }

    /// The last permit of a closed channel was sent or dropped. Receivers wait for every
    /// permit still out after a close (an empty closed channel reports its end only
    /// once none is), so this is the end of the channel for all of them, as the close
    /// is when no permit is out: wake every one (PITFALLS `close-behind-permit`). Each
    /// returns the last item, if one was sent, or the end.
    #[cold]
    fn last_reservation_ended(&self) {
        self.recv_waiters.notify_all();
    }

    /// After publishing a slot and calling (the fenced) `recv_waiters.notify_one()`: if
    /// the last receiver is gone ([`GONE`], and no receiver made since), drop what is
    /// queued.
    #[inline]
    fn drain_if_unreceivable(&self) {
        // Relaxed: ordered by the SeqCst fence that `notify_one` (`anyone_waiting`) issued
        // after our stamp store. It pairs with the fence in `remove_receiver`
        // (store-buffering): either we see `GONE` (written before that fence), or the
        // last receiver's drain sees our slot. No second fence on the hot path.
        if self.receivers.load(Ordering::Relaxed) == GONE {
            self.ring.drain(self.slots(), WAIT_OUT_IN_FLIGHT);
        }
    }

    pub(crate) fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.push(value) {
            Ok(()) => Ok(()),
            Err(PushError::Full(v) | PushError::InFlight(v)) => {
                self.count_rejection();
                Err(TrySendError::Full(v))
            }
            Err(PushError::Closed(v)) => Err(TrySendError::Closed(v)),
        }
    }

    #[cold]
    fn count_rejection(&self) {
        // Relaxed: a statistic; it orders nothing.
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn try_recv(&self) -> Result<T, TryRecvError> {
        self.pop().map_err(|e| match e {
            PopError::Closed => TryRecvError::Closed,
            PopError::Empty | PopError::InFlight => TryRecvError::Empty,
        })
    }

    /// Sends, evicting the oldest item if the channel is full: the eviction and the
    /// insertion are one step ([`Ring::swap_oldest`]), so an item is never evicted
    /// without `value` taking its place, and the evicted item always comes back.
    ///
    /// It never waits: `Full` comes back (nothing evicted) when the room is held by
    /// permits (a permit's room is not the oldest item's to give), or at a slot in
    /// flight (a push or pop mid-way, another swap) after the ring's bounded backoff, as
    /// for `try_send`.
    pub(crate) fn force_send(&self, value: T) -> Result<Option<T>, TrySendError<T>> {
        let backoff = Backoff::new();
        let mut value = value;
        loop {
            value = match self.push(value) {
                Ok(()) => return Ok(None),
                Err(PushError::Closed(v)) => return Err(TrySendError::Closed(v)),
                Err(PushError::InFlight(v)) => {
                    self.count_rejection();
                    return Err(TrySendError::Full(v));
                }
                Err(PushError::Full(v)) => v,
            };
            value = match self.ring.swap_oldest(self.slots(), value) {
                Ok((old, waiting)) => {
                    // Relaxed: a statistic; it orders nothing.
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                    // We hold `old`: a waker that panics must not destroy it.
                    if let Some(receiver) =
                        self.waiter_to_wake(&self.recv_waiters, End::Tail, waiting)
                    {
                        receiver.wake_contained();
                    }
                    if !WAIT_OUT_IN_FLIGHT {
                        // Without `std`, waiters park at the swap bit like at any slot
                        // in flight: a sender that did may have a slot free by now.
                        self.wake_parked_at_swap(false);
                        // As in `push`: the last receiver may have left while we wrote.
                        self.drain_if_unreceivable();
                    }
                    return Ok(Some(old));
                }
                Err((v, Oldest::Moved)) => {
                    backoff.spin();
                    v
                }
                Err((v, Oldest::Raced)) => {
                    if !WAIT_OUT_IN_FLIGHT {
                        self.wake_parked_at_swap(true);
                    }
                    v
                }
                Err((v, Oldest::Reserved | Oldest::InFlight)) => {
                    self.count_rejection();
                    return Err(TrySendError::Full(v));
                }
                Err((v, Oldest::Closed)) => return Err(TrySendError::Closed(v)),
            };
        }
    }

    /// Without `std`: a swap's bit went down, and waiters may have parked at it as at a
    /// slot in flight (wait-list invariant 3a): wake a sender (a slot may be free now)
    /// and, if `receivers`, a receiver (an item may be left, or the end of a closed
    /// channel). Each is the fenced check of invariant 4, so a woken one that finds
    /// nothing passes no baton on.
    #[cold]
    fn wake_parked_at_swap(&self, receivers: bool) {
        if let Some(sender) = self.send_waiters.take_one() {
            sender.wake_contained();
        }
        if receivers {
            if let Some(receiver) = self.recv_waiters.take_one() {
                receiver.wake_contained();
            }
        }
    }

    /// Closes the channel. Returns `true` if this call closed it.
    pub(crate) fn close(&self) -> bool {
        let closed = self.ring.close();
        if closed {
            self.wake_all_closed();
        }
        closed
    }

    /// Wakes every waiter after the close mark went up.
    fn wake_all_closed(&self) {
        self.send_waiters.notify_all();
        self.recv_waiters.notify_all();
        self.close_waiters.notify_all();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.ring.is_closed()
    }

    pub(crate) fn len(&self) -> usize {
        self.ring.len()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.ring.capacity()
    }

    pub(crate) fn reserved(&self) -> usize {
        self.ring.positions().reserved
    }

    /// Room neither filled by items nor held by permits, now.
    pub(crate) fn room_left(&self) -> usize {
        let p = self.ring.positions();
        self.ring.capacity() - (p.len + p.reserved)
    }

    /// Whether room may be free for the next parked sender (wait-list invariant 3a).
    pub(crate) fn space_left(&self) -> bool {
        self.room_left() > 0
    }

    /// Whether the next parked receiver may have something to return: an item, or the
    /// end of a closed channel, which comes once no permit is out (wait-list invariant
    /// 3a). Every receiver parked on a closed channel while a permit is held must return
    /// once the last permit is sent or dropped (PITFALLS `close-behind-permit`), and
    /// that wakes only one: the baton runs until none is left.
    pub(crate) fn items_left(&self) -> bool {
        let p = self.ring.positions();
        p.len > 0 || (p.closed && p.reserved == 0)
    }

    pub(crate) fn sender_count(&self) -> usize {
        // Relaxed: a monitoring read.
        self.senders.load(Ordering::Relaxed)
    }

    pub(crate) fn receiver_count(&self) -> usize {
        // Relaxed: a monitoring read.
        self.receivers.load(Ordering::Relaxed) & !GONE
    }

    pub(crate) fn add_sender(&self) {
        // Relaxed: like `Arc::clone`, the new handle is made from a live one, so the count
        // cannot be zero-and-closing concurrently in a way this increment must order.
        self.senders.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds a sender unless none is left or the channel is closed (`WeakSender::upgrade`).
    pub(crate) fn try_add_sender(&self) -> bool {
        // Relaxed: validated by the CAS below.
        let mut n = self.senders.load(Ordering::Relaxed);
        loop {
            if n == 0 {
                return false;
            }
            // AcqRel: pairs with `remove_sender`'s AcqRel decrement, so a count that went
            // to zero (and closed the channel) is never revived.
            match self
                .senders
                .compare_exchange_weak(n, n + 1, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => n = actual,
            }
        }
        if self.is_closed() {
            // Closed by `close()` while senders lived: hand back what we took.
            self.remove_sender();
            return false;
        }
        true
    }

    pub(crate) fn remove_sender(&self) {
        // AcqRel: the last sender's close must see every other sender's earlier pushes
        // as done (they happen-before their own decrement).
        if self.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.close();
            // Every permit (and every waiting send, which may hold room handed to it)
            // borrows a sender, so a reservation still out now belongs to a permit that
            // was `mem::forget`-ten: nobody will send or drop it. Give its room back, or
            // the receivers of this closed channel would wait for it for good.
            if self.ring.reclaim_reservations() {
                self.last_reservation_ended();
            }
        }
    }

    /// Counts a send that gave up while it waited.
    #[cold]
    pub(crate) fn count_abandoned(&self) {
        // Relaxed: a statistic; it orders nothing.
        self.abandoned.fetch_add(1, Ordering::Relaxed);
    }

    /// Weak handles: `side` is the count of weak senders or of weak receivers. Relaxed
    /// (all three): a weak handle owns nothing but its place in a monitoring count.
    pub(crate) fn weak_count(&self, senders: bool) -> usize {
        self.weak(senders).load(Ordering::Relaxed)
    }

    pub(crate) fn add_weak(&self, senders: bool) {
        self.weak(senders).fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn remove_weak(&self, senders: bool) {
        self.weak(senders).fetch_sub(1, Ordering::Relaxed);
    }

    fn weak(&self, senders: bool) -> &AtomicUsize {
        if senders {
            &self.weak_senders
        } else {
            &self.weak_receivers
        }
    }

    /// Adds a receiver while any lives (`WeakReceiver::upgrade`). A closed channel's
    /// receivers may still drain it, so closing does not stop an upgrade; the last
    /// receiver's drop does, for good ([`GONE`]).
    pub(crate) fn try_add_receiver(&self) -> bool {
        // Relaxed: validated by the CAS below.
        let mut n = self.receivers.load(Ordering::Relaxed);
        loop {
            if n & GONE != 0 || n == 0 {
                return false;
            }
            // AcqRel: as in `try_add_sender`.
            match self.receivers.compare_exchange_weak(
                n,
                n + 1,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => n = actual,
            }
        }
    }

    pub(crate) fn add_receiver(&self) {
        // Relaxed: as in `add_sender`.
        self.receivers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn remove_receiver(&self) {
        // AcqRel: as in `remove_sender`.
        if self.receivers.fetch_sub(1, Ordering::AcqRel) & !GONE == 1 {
            self.last_receiver_gone();
        }
    }

    /// Closes the channel and drops what is queued: nobody can receive any more. The
    /// drain comes before the close's wakes, and each runs even if the other unwinds
    /// (an item's `Drop`, a waker's `wake`), so a panicking waker cannot leave items
    /// queued and a panicking item cannot leave waiters asleep (PITFALLS `drain-panic`).
    /// If both panic, the second panic aborts, as for `Vec`.
    #[cold]
    fn last_receiver_gone(&self) {
        /// Wakes the waiters of the close when dropped, also while unwinding.
        struct WakeClosed<'c, 'a, T>(&'c Chan<'a, T>);
        impl<T> Drop for WakeClosed<'_, '_, T> {
            fn drop(&mut self) {
                self.0.wake_all_closed();
            }
        }
        let wake = self.ring.close().then_some(WakeClosed(self));
        // Relaxed: published by the fence below, which pairs with the one before
        // `drain_if_unreceivable`'s load (store-buffering).
        self.receivers.fetch_or(GONE, Ordering::Relaxed);
        // SeqCst fence: pairs with `drain_if_unreceivable`.
        fence(Ordering::SeqCst);
        // Drop what is queued now, outside every lock (if an item's `Drop` panics, the
        // rest are still dropped). A held permit's item is drained by the permit when it
        // sends (`drain_if_unreceivable`). A send mid-write is
        // waited out with `std` (its push no longer checks; see "Waiting out a slot in
        // flight"); without `std` its writer drains like a permit.
        self.ring.drain(self.slots(), WAIT_OUT_IN_FLIGHT);
        drop(wake);
    }

    /// Drops every item still queued. For the owner's `Drop`, when no handle is left.
    pub(crate) fn drop_items(&self) {
        self.ring.drain(self.slots(), false);
    }

    /// A snapshot of the channel's state.
    pub(crate) fn stats(&self) -> Stats {
        let pos = self.ring.positions();
        Stats {
            len: pos.len,
            reserved: pos.reserved,
            capacity: self.capacity(),
            sent: pos.pushed,
            received: pos.popped,
            senders_waiting: self.send_waiters.len(),
            receivers_waiting: self.recv_waiters.len(),
            // Relaxed (both): statistics.
            rejected: self.rejected.load(Ordering::Relaxed) as u64,
            evicted: self.evicted.load(Ordering::Relaxed) as u64,
            abandoned: self.abandoned.load(Ordering::Relaxed) as u64,
            senders: self.sender_count(),
            receivers: self.receiver_count(),
            closed: pos.closed,
        }
    }
}

/// A side's wait flag in the ring's `head` or `tail` word (wait-list invariant 4b).
#[derive(Debug)]
pub(crate) struct WaitFlag<'a>(&'a Ring, End);

impl Beacon for WaitFlag<'_> {
    #[inline]
    fn raise(&self) {
        if WAIT_OUT_IN_FLIGHT {
            self.0.raise_waiting(self.1);
        }
    }
}
