//! The wait-list node that lives inside a pinned future (or a blocked thread's frame), and
//! what it wakes.

use crate::loom::{AtomicUsize, Ordering, UnsafeCell};
use core::cell::Cell;
use core::marker::PhantomPinned;
use core::ptr::NonNull;
use core::task::Waker;

/// Where a waiter is in its life.
///
/// `Idle → Queued` (owner, under the lock), `Queued → Notified`/`Baton` (a notifier,
/// under the lock, as its last touch of the node), `Queued → Idle` (owner, under the
/// lock), `Notified`/`Baton → Idle` (owner, *without* the lock: once a notifier has
/// published it nobody else touches the node). So the owner can read `Idle` or `Notified` without the
/// lock and trust it: only the owner moves a waiter out of those states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum State {
    /// Not linked, no notification pending.
    Idle = 0,
    /// Linked into the list, waiting.
    Queued = 1,
    /// Unlinked by a notifier; the notification has not been consumed by a poll yet. A
    /// waiter unregistered in this state passes the notification on.
    Notified = 2,
    /// As `Notified`, and the notification is a *baton* (wait-list invariant 3a): the
    /// owner that consumes it becomes a carrier, as if it had been held up itself.
    Baton = 3,
    /// As `Notified`, and the notifier made the waiter's operation for it (wait-list
    /// invariant 6): for a channel's sender, room reserved in the ring. The owner that
    /// consumes it completes with it; a waiter unregistered in this state hands it to the
    /// next queued waiter, or releases it.
    Granted = 4,
}

/// What a waiter's owner finds when it looks for a notification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Notice {
    /// None pending.
    Nothing,
    /// Woken: retry the operation.
    Woken,
    /// Woken with a grant: complete with it.
    Granted,
}

/// What waking a waiter means: a task's `Waker`, or a blocked thread.
#[derive(Debug)]
pub(crate) enum WakeTarget {
    Task(Waker),
    #[cfg(feature = "std")]
    Thread(crate::loom::Thread),
}

/// A borrowed wake target, to refresh a node without cloning when nothing changed.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WakeRef<'a> {
    Task(&'a Waker),
    #[cfg(feature = "std")]
    Thread(&'a crate::loom::Thread),
}

impl WakeRef<'_> {
    /// An owned copy: for a task, `Waker::clone`, which is user code. Never call it with
    /// a wait-list lock held.
    pub(crate) fn to_owned(self) -> WakeTarget {
        match self {
            WakeRef::Task(w) => WakeTarget::Task(w.clone()),
            #[cfg(feature = "std")]
            WakeRef::Thread(t) => WakeTarget::Thread(t.clone()),
        }
    }

    /// Under the lock: makes `node` wake `self`. If it already does, nothing changes
    /// (`Ok(None)`). Else the copy in `fresh`, made before the lock was taken, goes in
    /// and the replaced target comes back, to be dropped after unlocking. With no copy
    /// in `fresh`, `Err(())`: the caller unlocks, makes one, and tries again.
    pub(crate) fn refresh(
        self,
        node: &mut Node,
        fresh: &mut Option<WakeTarget>,
    ) -> Result<Option<WakeTarget>, ()> {
        match &node.target {
            Some(current) if current.same_as(self) => Ok(None),
            _ => match fresh.take() {
                Some(new) => Ok(node.target.replace(new)),
                None => Err(()),
            },
        }
    }
}

impl WakeTarget {
    pub(crate) fn wake(self) {
        match self {
            WakeTarget::Task(w) => w.wake(),
            #[cfg(feature = "std")]
            WakeTarget::Thread(t) => t.unpark(),
        }
    }

    /// Wakes for a caller that holds a value it must hand on (an item it just received,
    /// an item a drop-oldest send evicted): with `std`, a `Waker::wake` that panics is
    /// caught here, so the panic cannot unwind through the caller and destroy that value
    /// (PITFALLS `user-code-under-lock`). The waiter counts as woken: it was notified
    /// before its waker ran. Without `std` there is no `catch_unwind`; such a panic
    /// unwinds (on targets that unwind at all) and the value is dropped.
    pub(crate) fn wake_contained(self) {
        #[cfg(feature = "std")]
        {
            let woken = std::panic::catch_unwind(core::panic::AssertUnwindSafe(|| self.wake()));
            // The panic's payload is user data too: dropped here, outside every lock.
            drop(woken);
        }
        #[cfg(not(feature = "std"))]
        self.wake();
    }

    /// Drops the target (a `Waker`'s drop is user code) for a caller that holds a value
    /// it must hand on, as [`wake_contained`](Self::wake_contained) wakes it.
    pub(crate) fn drop_contained(self) {
        #[cfg(feature = "std")]
        drop(std::panic::catch_unwind(core::panic::AssertUnwindSafe(
            || drop(self),
        )));
        #[cfg(not(feature = "std"))]
        drop(self);
    }

    fn same_as(&self, other: WakeRef<'_>) -> bool {
        match (self, other) {
            (WakeTarget::Task(a), WakeRef::Task(b)) => a.will_wake(b),
            #[cfg(feature = "std")]
            (WakeTarget::Thread(a), WakeRef::Thread(b)) => a.id() == b.id(),
            #[cfg(feature = "std")]
            _ => false,
        }
    }
}

/// The fields of a waiter. Only touched under the wait list's lock.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) prev: Option<NonNull<Waiter>>,
    pub(crate) next: Option<NonNull<Waiter>>,
    /// Who to wake. Taken by the notifier (and woken after the lock is released).
    pub(crate) target: Option<WakeTarget>,
    /// Free for the list's user: the semaphore keeps the permits still wanted here.
    pub(crate) wanted: usize,
}

/// A wait-list node, embedded in a future or a blocked thread's frame.
///
/// It must be pinned before it is linked, and its owner must call the wait list's
/// `unregister` before it is dropped (the futures do so in `Drop`).
#[derive(Debug)]
pub(crate) struct Waiter {
    /// A `State`; see its docs for who may change it when.
    state: AtomicUsize,
    /// # Safety
    /// Accessed only with the owning wait list's lock held.
    node: UnsafeCell<Node>,
    /// Whether the current operation was ever held up by a slot in flight
    /// (`Blocked::Busy`). Touched only by the owner, never by notifiers, so a plain
    /// `Cell` (see `WaitList::poll_op`).
    busy: Cell<bool>,
    _pin: PhantomPinned,
}

// A waiter's node changes only under its list's lock, with no user code inside (wait-list
// invariant 5), and `busy` only in its owner's `poll`, between calls that do not panic:
// an unwind never leaves a node half-written.
impl core::panic::UnwindSafe for Waiter {}
impl core::panic::RefUnwindSafe for Waiter {}

// SAFETY: the node is only accessed under the wait list's lock, which serializes every
// thread's access; its contents (`Waker`, `Thread`, pointers to other such nodes guarded by
// the same lock) are `Send`. `busy` is a plain flag.
unsafe impl Send for Waiter {}
// SAFETY: shared references only reach the node through the lock. `busy` is only read
// and written by the owner (through the `Pin<&Waiter>` of its own future or frame, on the
// thread that polls it); notifiers reach a waiter through the list's pointers and touch
// only `state` and the node.
unsafe impl Sync for Waiter {}

impl Waiter {
    crate::loom::const_fn! {
        pub(crate) const fn new() -> Self {
            Self {
                state: AtomicUsize::new(State::Idle as usize),
                node: UnsafeCell::new(Node {
                    prev: None,
                    next: None,
                    target: None,
                    wanted: 0,
                }),
                busy: Cell::new(false),
                _pin: PhantomPinned,
            }
        }
    }

    /// The current state.
    #[inline]
    pub(crate) fn state(&self) -> State {
        // Acquire: pairs with the notifier's Release in `set_state`, so an owner that sees
        // `Notified` also sees the notifier's last writes to the node (it unlinked it).
        match self.state.load(Ordering::Acquire) {
            0 => State::Idle,
            1 => State::Queued,
            2 => State::Notified,
            3 => State::Baton,
            _ => State::Granted,
        }
    }

    /// Sets the state (under the lock, or `Notified → Idle` by the owner; see `State`).
    #[inline]
    pub(crate) fn set_state(&self, state: State) {
        // Release: a notifier's `Notified` publishes its unlinking of the node (its last
        // access) to the owner's Acquire load.
        self.state.store(state as usize, Ordering::Release);
    }

    /// If a notification is pending, consumes it without the lock (see `State`). A
    /// baton makes the owner a carrier (`set_busy`).
    #[inline]
    pub(crate) fn take_notification(&self) -> Notice {
        let notice = match self.state() {
            State::Idle | State::Queued => return Notice::Nothing,
            State::Notified => Notice::Woken,
            State::Baton => {
                self.set_busy();
                Notice::Woken
            }
            State::Granted => Notice::Granted,
        };
        self.set_state(State::Idle);
        notice
    }

    /// Owner only: the current operation was held up by a slot in flight.
    #[inline]
    pub(crate) fn set_busy(&self) {
        self.busy.set(true);
    }

    /// Owner only: whether this waiter is in the state a new one is in: never registered
    /// (or fully unregistered), no notification to consume, no baton to carry. An
    /// operation that completes at its first attempt from here has nothing to clean up.
    #[inline]
    pub(crate) fn is_fresh(&self) -> bool {
        self.state() == State::Idle && !self.busy.get()
    }

    /// Owner only: whether the operation that just ended was ever held up; resets.
    #[inline]
    pub(crate) fn take_busy(&self) -> bool {
        self.busy.replace(false)
    }

    /// # Safety
    /// The caller holds the lock of the wait list this waiter belongs to (proved by the
    /// `&mut List` it borrows from), and does not let two such borrows of one node overlap.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn node_mut(&self) -> &mut Node {
        // SAFETY: per the contract, the lock serializes all access to the node, and the
        // caller keeps at most one borrow alive.
        self.node.with_mut(|p| unsafe { &mut *p })
    }
}

/// Wake targets collected under the lock, woken after it is released.
///
/// Fixed size (no allocation); when full, the caller unlocks, wakes the batch, and relocks.
/// Under loom the batch is tiny so the models take the relock path.
pub(crate) struct WakeBatch {
    targets: [Option<WakeTarget>; WakeBatch::CAPACITY],
    len: usize,
}

impl WakeBatch {
    #[cfg(not(loom))]
    const CAPACITY: usize = 16;
    #[cfg(loom)]
    const CAPACITY: usize = 2;

    pub(crate) const fn new() -> Self {
        Self {
            targets: [const { None }; WakeBatch::CAPACITY],
            len: 0,
        }
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == Self::CAPACITY
    }

    /// Adds a target. Must not be full.
    pub(crate) fn push(&mut self, target: Option<WakeTarget>) {
        debug_assert!(!self.is_full());
        if target.is_some() {
            self.targets[self.len] = target;
            self.len += 1;
        }
    }

    /// Wakes everything collected. Call with no lock held.
    ///
    /// If a waker panics, the rest are still woken by the batch's `Drop` during unwinding.
    pub(crate) fn wake_all(&mut self) {
        while self.len > 0 {
            self.len -= 1;
            if let Some(target) = self.targets[self.len].take() {
                target.wake();
            }
        }
    }
}

impl Drop for WakeBatch {
    fn drop(&mut self) {
        self.wake_all();
    }
}

impl core::fmt::Debug for WakeBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WakeBatch").field("len", &self.len).finish()
    }
}
