//! The loom facade: the only place the crate takes atomics, cells, spin hints, locks and
//! thread parking from.
//!
//! Built normally, everything here is `core`/`std`. Built with `RUSTFLAGS="--cfg loom"`
//! (see `loom-tests/`), everything is loom's model-checked twin, so the whole crate — ring,
//! wait lists, semaphore, channel — runs under the model checker without a line changed.
//!
//! Two deliberate differences under loom:
//! - `const fn` constructors become plain `fn` (loom's types cannot be built in `const`);
//!   [`const_fn!`] does this.
//! - [`Backoff`] yields to the model scheduler at every step, and its `is_completed` is
//!   always true: the ring gives up on a slot in flight at first sight. loom hands a yield
//!   to any other runnable thread, so a backoff that waited would always see the writer
//!   finish, and the models would never explore what a caller does when the ring gives
//!   up (report Full/Empty, wait the write out, or park); at first sight they explore it
//!   whenever the writer is preempted mid-write.

/// Declares a function that is `const` normally and a plain `fn` under loom.
macro_rules! const_fn {
    ($(#[$meta:meta])* $vis:vis const fn $name:ident $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$meta])*
        $vis const fn $name $($rest)*
        #[cfg(loom)]
        $(#[$meta])*
        $vis fn $name $($rest)*
    };
}
pub(crate) use const_fn;

#[cfg(all(not(loom), not(feature = "portable-atomic")))]
pub(crate) use core::sync::atomic::{fence, AtomicUsize, Ordering};
// The same API, for targets without compare-and-swap: `portable-atomic` emulates the RMWs
// with the fallback the program chose (a critical section, or masked interrupts on one
// core), and uses the native instructions wherever the target has them.
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicUsize, Ordering};
#[cfg(all(not(loom), feature = "portable-atomic"))]
pub(crate) use portable_atomic::{fence, AtomicUsize, Ordering};

#[cfg(all(not(loom), feature = "alloc"))]
pub(crate) use alloc::sync::Arc;
#[cfg(all(loom, feature = "alloc"))]
pub(crate) use loom::sync::Arc;

#[cfg(all(loom, feature = "std"))]
pub(crate) use loom::thread::{current as current_thread, park, Thread};
#[cfg(all(not(loom), feature = "std"))]
pub(crate) use std::thread::{current as current_thread, park, park_timeout, Thread};

/// loom has no timed park, and no clock: a timed wait under loom parks like an untimed
/// one (the models never give a deadline).
#[cfg(all(loom, feature = "std"))]
pub(crate) fn park_timeout(_: std::time::Duration) {
    park();
}

pub(crate) use cell::UnsafeCell;
pub(crate) use lock::{Guard as MutexGuard, Mutex};

#[cfg(loom)]
mod cell {
    pub(crate) use loom::cell::UnsafeCell;
}

#[cfg(not(loom))]
mod cell {
    /// `core::cell::UnsafeCell` with loom's closure-based access API, so every access is
    /// visible to the model checker when built with `--cfg loom`.
    #[derive(Debug)]
    #[repr(transparent)]
    pub(crate) struct UnsafeCell<T: ?Sized>(core::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(data: T) -> Self {
            Self(core::cell::UnsafeCell::new(data))
        }
    }

    impl<T: ?Sized> UnsafeCell<T> {
        /// Shared access to the contents through a raw pointer.
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        /// Exclusive access to the contents through a raw pointer.
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

/// The lock that guards the wait lists.
///
/// Every critical section it guards is O(1) pointer surgery (link, unlink, take a waker)
/// or one ring operation, never a wake, a waker clone or a drop of user values. The lock
/// is one of three:
///
/// - **Under loom**, loom's `Mutex`, so the models explore lock hand-over without a spin
///   loop.
/// - **With the `critical-section` feature**, a critical section of the
///   `critical-section` crate: no interrupt handler (and, with a multicore
///   implementation, no other core) runs the channel's code while it is held, so an
///   interrupt handler may call every non-blocking operation.
/// - **Otherwise**, a test-and-test-and-set spin lock: `const`, no OS, no heap, and the
///   fastest on threads. An interrupt handler that wants it while the code it interrupted
///   holds it spins forever, so without the feature, interrupt handlers must not touch
///   the crate's wait lists (see the crate docs, "Interrupt handlers").
///
/// No code path holds two of these locks at once (each `lock()` guard is dropped before
/// the next is taken), which the critical-section version relies on: its sections must
/// end in reverse order of their start.
#[cfg(loom)]
mod lock {
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type Guard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(data: T) -> Self {
            Self(loom::sync::Mutex::new(data))
        }

        pub(crate) fn lock(&self) -> Guard<'_, T> {
            // A poisoned loom mutex means a model already panicked; keep going so the
            // model reports that panic rather than this one.
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }
}

#[cfg(all(not(loom), feature = "critical-section"))]
mod lock {
    use core::cell::UnsafeCell;
    use core::ops::{Deref, DerefMut};

    /// Data reached only inside a critical section.
    pub(crate) struct Mutex<T> {
        data: UnsafeCell<T>,
        /// Debug builds: whether a guard is out. Critical sections nest, so taking this
        /// lock again inside its own section would succeed and alias `data`; no code
        /// path does (nothing but pointer surgery runs under it), and this checks it.
        #[cfg(debug_assertions)]
        held: core::cell::Cell<bool>,
    }

    // SAFETY: `lock` hands out access to `data` only inside a critical section, which no
    // other thread, core or interrupt handler is in at the same time; so sharing the lock
    // is as safe as sending the data.
    unsafe impl<T: Send> Sync for Mutex<T> {}
    // SAFETY: moving the lock moves the data; no thread-bound state inside.
    unsafe impl<T: Send> Send for Mutex<T> {}

    impl<T> core::fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Mutex").finish_non_exhaustive()
        }
    }

    impl<T> Mutex<T> {
        pub(crate) const fn new(data: T) -> Self {
            Self {
                data: UnsafeCell::new(data),
                #[cfg(debug_assertions)]
                held: core::cell::Cell::new(false),
            }
        }

        #[inline]
        pub(crate) fn lock(&self) -> Guard<'_, T> {
            // SAFETY: `acquire` must be paired with one `release` of the state it returns,
            // and nested sections must be released in reverse order. The guard releases
            // in its `drop`, exactly once (it is neither `Clone` nor leaked by the crate),
            // and no code path holds two guards at once (see the lock's docs), so
            // sections never interleave.
            let state = unsafe { critical_section::acquire() };
            // Inside the section: nothing else touches `held` now.
            #[cfg(debug_assertions)]
            assert!(
                !self.held.replace(true),
                "sluicebox: a wait-list lock taken again inside its own critical section"
            );
            Guard { lock: self, state }
        }
    }

    pub(crate) struct Guard<'a, T> {
        lock: &'a Mutex<T>,
        state: critical_section::RestoreState,
    }

    impl<T> Deref for Guard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: a `Guard` exists only inside its critical section, where nothing
            // else reaches `data`.
            unsafe { &*self.lock.data.get() }
        }
    }

    impl<T> DerefMut for Guard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in `deref`; `&mut self` makes this the only access through us.
            unsafe { &mut *self.lock.data.get() }
        }
    }

    impl<T> Drop for Guard<'_, T> {
        fn drop(&mut self) {
            #[cfg(debug_assertions)]
            self.lock.held.set(false);
            // SAFETY: the state `acquire` returned in `lock`, released once, in nesting
            // order (see `lock`).
            unsafe { critical_section::release(self.state) };
        }
    }
}

#[cfg(all(not(loom), not(feature = "critical-section")))]
mod lock {
    use super::{Backoff, Ordering};
    use core::cell::UnsafeCell;
    use core::ops::{Deref, DerefMut};
    #[cfg(not(feature = "portable-atomic"))]
    use core::sync::atomic::AtomicBool;
    #[cfg(feature = "portable-atomic")]
    use portable_atomic::AtomicBool;

    /// A spin lock for O(1) critical sections.
    pub(crate) struct Mutex<T> {
        locked: AtomicBool,
        data: UnsafeCell<T>,
    }

    // SAFETY: the lock hands out access to `data` to one thread at a time (the `locked`
    // flag), so sharing the lock is as safe as sending the data.
    unsafe impl<T: Send> Sync for Mutex<T> {}
    // SAFETY: moving the lock moves the data; no thread-bound state inside.
    unsafe impl<T: Send> Send for Mutex<T> {}

    impl<T> core::fmt::Debug for Mutex<T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_struct("Mutex")
                .field("locked", &self.locked.load(Ordering::Relaxed))
                .finish_non_exhaustive()
        }
    }

    impl<T> Mutex<T> {
        pub(crate) const fn new(data: T) -> Self {
            Self {
                locked: AtomicBool::new(false),
                data: UnsafeCell::new(data),
            }
        }

        #[inline]
        pub(crate) fn lock(&self) -> Guard<'_, T> {
            // Acquire on success: the previous holder's writes to `data` (published by its
            // Release store in `Guard::drop`) are visible to us.
            if self
                .locked
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                self.lock_slow();
            }
            Guard { lock: self }
        }

        #[cold]
        #[inline(never)]
        fn lock_slow(&self) {
            let backoff = Backoff::new();
            loop {
                // Relaxed: only a hint to avoid hammering the line with CASes; the CAS
                // below is the synchronizing access.
                while self.locked.load(Ordering::Relaxed) {
                    backoff.snooze();
                }
                // Acquire: as in `lock`.
                if self
                    .locked
                    .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }

    pub(crate) struct Guard<'a, T> {
        lock: &'a Mutex<T>,
    }

    impl<T> Deref for Guard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: a `Guard` exists only while `locked` is held by us, so no other
            // reference to `data` is live.
            unsafe { &*self.lock.data.get() }
        }
    }

    impl<T> DerefMut for Guard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: as in `deref`; `&mut self` makes this the only access through us.
            unsafe { &mut *self.lock.data.get() }
        }
    }

    impl<T> Drop for Guard<'_, T> {
        fn drop(&mut self) {
            // Release: publishes our writes to `data` to the next locker's Acquire.
            self.lock.locked.store(false, Ordering::Release);
        }
    }
}

/// A spin-loop hint; a yield to the model scheduler under loom.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Exponential backoff for contended CAS loops and for waiting out another thread's
/// half-finished ring operation.
///
/// `spin` is for a failed CAS (someone else made progress); `snooze` is for waiting on
/// another thread. `is_completed` says the caller has waited long enough to give up
/// (the ring then reports Full/Empty rather than spin without bound; see `ring.rs`).
#[derive(Debug)]
pub(crate) struct Backoff {
    #[cfg(not(loom))]
    inner: crossbeam_utils::Backoff,
}

impl Backoff {
    #[inline]
    pub(crate) fn new() -> Self {
        Self {
            #[cfg(not(loom))]
            inner: crossbeam_utils::Backoff::new(),
        }
    }

    #[inline]
    pub(crate) fn spin(&self) {
        #[cfg(not(loom))]
        self.inner.spin();
        #[cfg(loom)]
        self.step();
    }

    #[inline]
    pub(crate) fn snooze(&self) {
        #[cfg(not(loom))]
        {
            self.inner.snooze();
            // Not with `critical-section`: an interrupt handler must not call into the
            // scheduler (and yielding would not let the code it interrupted run anyway).
            #[cfg(all(feature = "std", not(feature = "critical-section")))]
            if self.inner.is_completed() {
                std::thread::yield_now();
            }
        }
        #[cfg(loom)]
        self.step();
    }

    #[inline]
    pub(crate) fn is_completed(&self) -> bool {
        #[cfg(not(loom))]
        return self.inner.is_completed();
        #[cfg(loom)]
        return true;
    }

    #[cfg(loom)]
    fn step(&self) {
        loom::thread::yield_now();
    }
}
