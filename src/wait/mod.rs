//! Wait lists: where tasks and threads park until the channel (or semaphore) changes.
//!
//! # Design
//!
//! A [`WaitList`] is an intrusive, FIFO, doubly linked list of [`Waiter`] nodes guarded by a
//! short lock (`crate::loom::Mutex`), plus an atomic count of queued waiters beside it.
//! The nodes live inside the pinned futures (or on the stack of a blocked thread), so
//! waiting allocates nothing.
//!
//! # Invariants
//!
//! 1. A node is linked iff its state is `Queued`; `queued` equals the number of linked
//!    nodes. Both change only under the lock.
//! 2. A notifier unlinks a node and sets it `Notified`, taking its wake target; the target
//!    is woken after the lock is released (never under it: a waker may re-enter us).
//!    Replaced wakers are also dropped after unlocking.
//! 3. The owner of a node consumes `Notified` (back to `Idle`) the next time it polls, and
//!    retries its operation. A node that is unregistered (its future completes or is
//!    dropped) while `Notified` passes the notification to the next queued node, so a
//!    wakeup is never swallowed by a cancelled waiter (PITFALLS `handoff`).
//!
//!    **3a. A waiter held up by a slot in flight passes the baton.** One notification is
//!    issued per item (or slot) made available, and a waiter's retry normally either
//!    succeeds or sees "nothing there" at a point every later publish is ordered after
//!    (invariant 4). But the retry can also stop at a slot still in flight — a held
//!    permit at the head, or (without `std`, see 4b) a push or pop mid-way — with items
//!    (or free slots) *behind* it (`Blocked::Busy`). Their notifications were issued
//!    before anyone waited, or went to this very waiter — possibly several of them, one
//!    per item sent behind the blocker, each consumed by a retry that stopped at it — and
//!    the blocker's own publish issues only one. So a waiter that was ever `Busy` is a
//!    *carrier*: when it completes (or is dropped), it asks the caller's `more` predicate
//!    whether anything is left, and if so wakes the next waiter with a *baton*
//!    (`State::Baton`). A waiter woken by a baton is a carrier too, so the chain runs
//!    until nothing is left, however many notifications were swallowed. For receivers,
//!    "something left" includes the end of a closed channel: receivers that parked
//!    again behind a held permit after `close()` woke them must each return `None`
//!    once the permit is used, and the permit's publish wakes only one. A carrier
//!    dropped with a notification pending hands it on as a baton. A waiter that only
//!    ever saw "nothing there" never passes one on, so a plain wakeup is still one wake
//!    per item (PITFALLS `herd`).
//! 4. **No lost wakeup.** A waiter does: *register* (link, bump `queued`), `fence(SeqCst)`,
//!    *retry the operation*, and only then sleeps. A notifier does: *change the state the
//!    waiter's retry reads* (a ring stamp, the close mark), `fence(SeqCst)`, *load
//!    `queued`*. With both fences in the single total order, either the retry sees the
//!    change or the notifier sees the waiter (the store-buffering pattern, closed by the
//!    fences). So `notify_one` with nobody waiting costs one fence and one load, no lock.
//!
//!    **4b. Notifiers that claim with an RMW need no fence.** A channel's immediate push
//!    and pop claim their slot with a CAS on the ring's `tail` / `head` anyway, so the
//!    wait flag lives in that word (a [`Beacon`]; `ring.rs` has the bit). A queued waiter
//!    raises the flag before its retry; the notifier that empties a list lowers it, under
//!    the lock. Then for a claim and a raise, both RMWs (or reads) of one word, coherence
//!    alone orders them: either the claim's CAS read the flag — and the publisher, once
//!    its slot is published, wakes someone under the lock — or the waiter's retry reads
//!    the word after the claim and sees the slot claimed. The waiter must then *not
//!    sleep* on a slot it saw claimed but not yet published (the publisher may not know
//!    about it): it waits the write out, which is a few instructions with no user code
//!    in between. The channel's core documents where it does and does not do so
//!    (`chan/core.rs`, "Waiting out a slot in flight").
//! 5. Critical sections are O(1): link, unlink, pop the front, swap a waker, and for a
//!    grant one ring operation (no user code). `notify_all` drains in batches of
//!    [`WakeBatch`] size, releasing the lock between batches.
//! 6. **A woken waiter can be handed what it was woken for.** A notifier that frees
//!    something a waiter wants may, under the lock, make the waiter's operation for it —
//!    for a channel's sender: reserve the room a dropped permit just gave back — and mark
//!    the waiter `Granted` instead of `Notified` (`take_one_granting`). The owner completes with the
//!    grant at its next poll, without retrying, so a fresh operation cannot take what it
//!    was woken for (tokio's `reserve_disarm` behaviour). If the grant cannot be made (a
//!    barging operation took the room first), the waiter is plainly notified. A waiter
//!    unregistered while `Granted` hands the grant to the next queued waiter, still
//!    granted, or, with nobody queued, releases it after unlocking
//!    (`unregister_granting`). Grants are only an optimisation of who gets the room;
//!    correctness (no lost wakeup) still rests on invariant 4.

mod list;
mod waiter;

pub(crate) use list::List;
pub(crate) use waiter::{Notice, State, Waiter, WakeBatch, WakeRef, WakeTarget};

use crate::loom::{fence, AtomicUsize, Mutex, Ordering};
use core::pin::Pin;
use core::ptr::NonNull;
use crossbeam_utils::CachePadded;

/// Why an operation could not complete now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    /// Nothing to take, or no room: a later publish will notify us (invariant 4).
    Empty,
    /// Held up by a slot in flight, with maybe more behind it (invariant 3a).
    Busy,
}

/// Where a queued waiter tells the notifiers of invariant 4b that it waits.
pub(crate) trait Beacon {
    /// Makes sure the wait flag is up. Called after the waiter is linked, before its
    /// retry.
    fn raise(&self);
}

/// For lists whose notifiers all fence (invariant 4): nothing to raise.
impl Beacon for () {
    #[inline]
    fn raise(&self) {}
}

/// A FIFO queue of parked tasks and threads.
#[derive(Debug)]
pub(crate) struct WaitList {
    /// Number of queued (linked) waiters. Written under the lock, read without it.
    queued: CachePadded<AtomicUsize>,
    list: Mutex<List>,
}

// The list's lock is held only for pointer surgery with no user code in it (invariant
// 5); wakes and waker drops run after unlocking. A panic in user code therefore never
// unwinds out of a critical section, and never leaves the list half-linked.
impl core::panic::RefUnwindSafe for WaitList {}

impl WaitList {
    crate::loom::const_fn! {
        pub(crate) const fn new() -> Self {
            Self {
                queued: CachePadded::new(AtomicUsize::new(0)),
                list: Mutex::new(List::new()),
            }
        }
    }

    /// Number of parked waiters (a snapshot).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        // Relaxed: a snapshot, for monitoring and for `waiting_hint`; nothing that must
        // not miss a waiter is decided on it.
        self.queued.load(Ordering::Relaxed)
    }

    /// Whether anyone was waiting a moment ago: no fence, so it can miss a waiter queueing
    /// right now. Only for a fast path whose caller then decides by
    /// [`anyone_waiting`](Self::anyone_waiting) or under the lock.
    #[inline]
    pub(crate) fn waiting_hint(&self) -> bool {
        self.len() != 0
    }

    /// Whether anyone may be waiting. Issues the notifier's half of invariant 4.
    #[inline]
    pub(crate) fn anyone_waiting(&self) -> bool {
        // SeqCst fence: the caller's state change is ordered before the load of `queued`
        // (invariant 4).
        fence(Ordering::SeqCst);
        // Relaxed: ordered by the fence above.
        self.queued.load(Ordering::Relaxed) != 0
    }

    /// Wakes the oldest waiter, if any. No lock when nobody waits.
    #[inline]
    pub(crate) fn notify_one(&self) {
        if let Some(target) = self.take_one() {
            target.wake();
        }
    }

    /// Notifies the oldest waiter, if any, and returns its target for the caller to wake
    /// (with the lock released). No lock when nobody waits.
    #[inline]
    pub(crate) fn take_one(&self) -> Option<WakeTarget> {
        if self.anyone_waiting() {
            self.take_one_slow()
        } else {
            None
        }
    }

    /// As [`take_one`](Self::take_one), for a notifier whose claim read the wait flag up
    /// (invariant 4b): straight to the lock. If that empties the list, `lower` runs
    /// under the lock, to take the flag down.
    #[cold]
    #[inline(never)]
    pub(crate) fn take_one_flagged(&self, lower: impl FnOnce()) -> Option<WakeTarget> {
        let mut list = self.list.lock();
        let target = self.notify_one_locked(&mut list);
        if list.is_empty() {
            lower();
        }
        target
    }

    #[cold]
    #[inline(never)]
    fn take_one_slow(&self) -> Option<WakeTarget> {
        let mut list = self.list.lock();
        self.notify_one_locked(&mut list)
    }

    /// As [`take_one`](Self::take_one), and under the lock tries `grant` for the waiter
    /// it takes: if that makes the waiter's operation, the waiter is `Granted`
    /// (invariant 6). `grant` must not run user code.
    #[inline]
    pub(crate) fn take_one_granting(&self, grant: impl FnOnce() -> bool) -> Option<WakeTarget> {
        if self.anyone_waiting() {
            self.take_one_granting_slow(grant)
        } else {
            None
        }
    }

    #[cold]
    #[inline(never)]
    fn take_one_granting_slow(&self, grant: impl FnOnce() -> bool) -> Option<WakeTarget> {
        let mut list = self.list.lock();
        let waiter = list.pop_front()?;
        self.set_queued(&mut list);
        let state = if grant() {
            State::Granted
        } else {
            State::Notified
        };
        Self::notify_unlinked(&mut list, waiter, state)
    }

    /// Unlinks the oldest waiter, marks it notified and returns its target, to be woken
    /// after unlocking.
    fn notify_one_locked(&self, list: &mut List) -> Option<WakeTarget> {
        self.notify_front_locked(list, State::Notified)
    }

    /// As `notify_one_locked`, marking the waiter `as_state` (`Notified`, `Baton` or
    /// `Granted`).
    fn notify_front_locked(&self, list: &mut List, as_state: State) -> Option<WakeTarget> {
        let waiter = list.pop_front()?;
        self.set_queued(list);
        Self::notify_unlinked(list, waiter, as_state)
    }

    /// Marks `waiter`, just unlinked from `list` under its lock, `as_state`, and returns
    /// its target.
    fn notify_unlinked(
        list: &mut List,
        waiter: NonNull<Waiter>,
        as_state: State,
    ) -> Option<WakeTarget> {
        // SAFETY: `waiter` was linked, hence alive (its owner unregisters before dying,
        // which needs this lock); we hold the lock.
        let target = unsafe { list.node(waiter) }.target.take();
        // SAFETY: as above. Publishing the notification is our last touch of the node.
        unsafe { waiter.as_ref() }.set_state(as_state);
        target
    }

    /// Wakes every waiter (close, last-handle drop).
    pub(crate) fn notify_all(&self) {
        if !self.anyone_waiting() {
            return;
        }
        /// If a waker panics, the unwinding finishes the job: nobody is left asleep.
        struct Rest<'a>(&'a WaitList);
        impl Drop for Rest<'_> {
            fn drop(&mut self) {
                self.0.notify_all_batches();
            }
        }
        let rest = Rest(self);
        self.notify_all_batches();
        core::mem::forget(rest);
    }

    fn notify_all_batches(&self) {
        let mut batch = WakeBatch::new();
        loop {
            let done = {
                let mut list = self.list.lock();
                while !batch.is_full() {
                    match self.notify_one_locked(&mut list) {
                        Some(target) => batch.push(Some(target)),
                        None if list.is_empty() => break,
                        None => {}
                    }
                }
                list.is_empty()
            };
            batch.wake_all();
            if done {
                return;
            }
        }
    }

    /// Links `waiter` at the back — at the front if `woken`, i.e. it was notified and
    /// its retry lost the slot to a barging operation, so it keeps its place in line —
    /// or refreshes its wake target if it is already queued.
    ///
    /// Returns the notification if the waiter had been notified since it last polled: it
    /// is consumed here and the caller should retry its operation at once (or complete
    /// with a grant). Returns `Notice::Nothing` if the waiter is queued: the caller must
    /// retry its operation once more (invariant 4) before sleeping.
    pub(crate) fn register(
        &self,
        waiter: Pin<&Waiter>,
        target: WakeRef<'_>,
        woken: bool,
    ) -> Notice {
        let notice = waiter.take_notification();
        if notice != Notice::Nothing {
            return notice;
        }
        let ptr = NonNull::from(waiter.get_ref());
        // The wake target is cloned (user code: `Waker::clone`) before the lock is taken,
        // never under it (PITFALLS `user-code-under-lock`). An idle waiter always needs
        // one; a queued one only if its target changed, which it learns under the lock.
        let mut fresh = (waiter.state() == State::Idle).then(|| target.to_owned());
        let (notice, replaced) = loop {
            let mut list = self.list.lock();
            // SAFETY: the caller's own pinned waiter, alive for this call; we hold the lock.
            let node = unsafe { list.node(ptr) };
            match waiter.state() {
                State::Notified | State::Baton | State::Granted => {
                    break (waiter.take_notification(), None);
                }
                State::Queued => match target.refresh(node, &mut fresh) {
                    Ok(replaced) => break (Notice::Nothing, replaced),
                    Err(()) => {
                        drop(list);
                        fresh = Some(target.to_owned());
                    }
                },
                State::Idle => {
                    let Some(new) = fresh.take() else {
                        unreachable!("sluicebox: an idle waiter's target is cloned first")
                    };
                    let replaced = node.target.replace(new);
                    waiter.set_state(State::Queued);
                    // SAFETY: pinned, not linked (Idle), and the owner unregisters it before
                    // it is dropped.
                    unsafe {
                        if woken {
                            list.push_front(ptr);
                        } else {
                            list.push_back(ptr);
                        }
                    }
                    self.set_queued(&mut list);
                    break (Notice::Nothing, replaced);
                }
            }
        };
        drop(replaced);
        drop(fresh);
        if notice == Notice::Nothing {
            // SeqCst fence: the waiter's half of invariant 4 — our link (and `queued`) is
            // ordered before the caller's retry of its operation.
            fence(Ordering::SeqCst);
        }
        notice
    }

    /// The owner is done with `waiter` (its operation completed, or it is being
    /// dropped): unlinks it, or passes on a notification it received but did not use.
    ///
    /// If the waiter was held up by a slot in flight (or woken by a baton), it carries
    /// the baton (invariant 3a): a notification it hands on is a baton, and if it has
    /// none to hand on, it wakes the next waiter itself when `more()` says something is
    /// left — whether it completed or was cancelled.
    #[inline(always)]
    pub(crate) fn unregister(&self, waiter: Pin<&Waiter>, more: impl FnOnce() -> bool) {
        self.unregister_granting(waiter, more, || {
            debug_assert!(false, "sluicebox: a grant on a list that grants nothing");
        });
    }

    /// [`unregister`](Self::unregister) for a list whose notifiers grant (invariant 6):
    /// a grant the waiter received but did not use goes to the next queued waiter, or,
    /// with nobody queued, `release` gives it back (called after unlocking).
    ///
    /// Always inlined: it runs in every future's `Drop`, and for a future that never
    /// waited it is two loads and a branch (out of line it was a call per async send).
    #[inline(always)]
    pub(crate) fn unregister_granting(
        &self,
        waiter: Pin<&Waiter>,
        more: impl FnOnce() -> bool,
        release: impl FnOnce(),
    ) {
        self.unregister_abandoning(waiter, more, release, || {});
    }

    /// [`unregister_granting`](Self::unregister_granting) that also calls `abandoned` if
    /// the waiter was still waiting (queued, or woken and not polled since): the owner
    /// gave the wait up (a sending future's `Stats::abandoned`). On the path that
    /// already tells a waiting waiter from an idle one, so a completed operation pays
    /// nothing for it.
    #[inline(always)]
    pub(crate) fn unregister_abandoning(
        &self,
        waiter: Pin<&Waiter>,
        more: impl FnOnce() -> bool,
        release: impl FnOnce(),
        abandoned: impl FnOnce(),
    ) {
        // Only the owner (us) moves a waiter out of Idle: no lock needed to see it. This
        // check runs after every completed operation, so it is inlined; the rest is not.
        let carrier = waiter.take_busy();
        if waiter.state() != State::Idle {
            abandoned();
            let (owe, unused_grant) = self.unregister_linked_or_notified(waiter, carrier);
            if unused_grant {
                release();
            }
            if owe {
                self.pass_baton(more);
            }
        } else if carrier {
            self.pass_baton(more);
        }
    }

    /// Returns whether the caller still owes a baton (it carried one and had no
    /// notification to hand it on with), and whether it holds a grant nobody was queued
    /// to take.
    #[inline(never)]
    fn unregister_linked_or_notified(&self, waiter: Pin<&Waiter>, carrier: bool) -> (bool, bool) {
        let ptr = NonNull::from(waiter.get_ref());
        let (own, handed_on, owe, unused_grant) = {
            let mut list = self.list.lock();
            // SAFETY: the caller's own pinned waiter; we hold the lock.
            let own = unsafe { list.node(ptr) }.target.take();
            let state = waiter.state();
            waiter.set_state(State::Idle);
            match state {
                State::Idle => (own, None, carrier, false),
                State::Queued => {
                    // SAFETY: Queued means linked into this list (invariant 1).
                    unsafe { list.remove(ptr) };
                    self.set_queued(&mut list);
                    (own, None, carrier, false)
                }
                State::Notified | State::Baton => {
                    let baton = carrier || state == State::Baton;
                    let next = if baton { State::Baton } else { State::Notified };
                    (own, self.notify_front_locked(&mut list, next), false, false)
                }
                State::Granted => {
                    // The grant goes on as it is; a carrier still owes its baton.
                    let unused = list.is_empty();
                    let next = self.notify_front_locked(&mut list, State::Granted);
                    (own, next, carrier, unused)
                }
            }
        };
        // A completed operation's caller holds its result (an item, a permit): user code
        // here (a waker's drop or wake) must not unwind through it.
        if let Some(own) = own {
            own.drop_contained();
        }
        if let Some(target) = handed_on {
            target.wake_contained();
        }
        (owe, unused_grant)
    }

    /// One step of waiting for `op`: try it; if it cannot complete, queue `waiter`, raise
    /// `beacon`, try once more (invariant 4), and return `Pending`. A pending notification is consumed
    /// first, without the lock. When `op` completes the waiter is unregistered, and if
    /// it was ever held up by a slot in flight and `more()` says something is left, the
    /// next waiter is woken (invariant 3a).
    ///
    /// `tried`: the caller has just tried the operation itself on this (fresh) waiter and
    /// it failed as `Blocked::Empty` would: the first try is skipped. The try after
    /// registering still runs, so invariant 4 holds as before.
    #[inline]
    // Each argument is one hook of the operation (try it, who is left, where to raise
    // the flag, how to give a grant back); a struct of them would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn poll_op<R>(
        &self,
        waiter: Pin<&Waiter>,
        target: WakeRef<'_>,
        tried: bool,
        mut op: impl FnMut(bool) -> Result<R, Blocked>,
        more: impl FnOnce() -> bool,
        beacon: &impl Beacon,
        release: impl FnOnce(),
    ) -> core::task::Poll<R> {
        // `op(true)`: complete with a grant (invariant 6). It fails only having given
        // the grant back itself (`reserve_many`, which takes all its room or none).
        let mut attempt = |granted: bool| match op(granted) {
            Ok(r) => Some(r),
            Err(Blocked::Empty) => None,
            Err(Blocked::Busy) => {
                waiter.set_busy();
                None
            }
        };
        // Whether we were notified: if our retry then fails, we go back to the front.
        let mut notice = waiter.take_notification();
        let mut skip = tried;
        loop {
            if !core::mem::take(&mut skip) {
                let granted = notice == Notice::Granted;
                if let Some(r) = attempt(granted) {
                    self.unregister_granting(waiter, more, release);
                    return core::task::Poll::Ready(r);
                }
            }
            notice = self.register(waiter, target, notice != Notice::Nothing);
            if notice == Notice::Nothing {
                beacon.raise();
                if let Some(r) = attempt(false) {
                    self.unregister_granting(waiter, more, release);
                    return core::task::Poll::Ready(r);
                }
                return core::task::Poll::Pending;
            }
            // `register` consumed a notification: retry (or complete with the grant), and
            // keep our place if that fails.
        }
    }

    /// Wakes the next waiter with a baton if `more()` says something is left.
    #[cold]
    #[inline(never)]
    fn pass_baton(&self, more: impl FnOnce() -> bool) {
        if more() && self.anyone_waiting() {
            let target = {
                let mut list = self.list.lock();
                self.notify_front_locked(&mut list, State::Baton)
            };
            if let Some(target) = target {
                // As in `unregister_linked_or_notified`: the caller may hold its result.
                target.wake_contained();
            }
        }
    }

    /// The lock, for policies that need more than notify-one/notify-all (the semaphore).
    pub(crate) fn lock(&self) -> crate::loom::MutexGuard<'_, List> {
        self.list.lock()
    }

    /// Recounts `queued` after the list changed. Takes the list to prove the lock is held.
    pub(crate) fn set_queued(&self, list: &mut List) {
        let n = list.len();
        // Relaxed: written under the lock; readers pair through the fences of invariant 4.
        self.queued.store(n, Ordering::Relaxed);
    }
}
