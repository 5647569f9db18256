//! Where a channel's slots live, and how handles reach the channel.
//!
//! The ring and the channel state are written once: a [`Core`] (no item type, no
//! storage) and a slice of slots, seen together as a storage-erased `Chan<'a, T>`. A
//! storage only says where the two live: inline (`StaticChannel<T, N>`, usable in a
//! `static`) or on the heap (`bounded`, feature `alloc`). Handles are generic over a
//! [`ChannelRef`]: a `&StaticChannel` or a reference-counted heap channel (no reference
//! counting for a static channel: its handles borrow it). Futures, permits and streams
//! hold a `Chan<'a, T>`, so they name only `'a` and `T`.

use crate::chan::{Chan, Core};
use crate::ring::{Ring, Slot};

mod sealed {
    pub trait Sealed {}
}

/// How a handle reaches its channel. Sealed: implemented for `&StaticChannel<T, N>` and for
/// [`Heap<T>`] (the heap channel made by [`bounded`](crate::bounded)).
pub trait ChannelRef<T>: Clone + sealed::Sealed {
    #[doc(hidden)]
    #[allow(private_interfaces)]
    fn chan(&self) -> Chan<'_, T>;

    /// The channel's monitor without its item type (`Monitor::erase`).
    #[doc(hidden)]
    #[cfg(not(loom))]
    fn erase_monitor<'a>(self) -> crate::AnyMonitor<'a>
    where
        Self: 'a,
        T: Send;
}

/// A channel with `N` slots stored inline: no heap, `const`-constructible, usable in a
/// `static`. Its handles borrow it.
///
/// ```
/// use sluicebox::StaticChannel;
///
/// static CHANNEL: StaticChannel<u32, 4> = StaticChannel::new();
///
/// let (tx, rx) = CHANNEL.split();
/// tx.try_send(7).unwrap();
/// assert_eq!(rx.try_recv(), Ok(7));
/// ```
///
/// `N` must be at least 1; `StaticChannel::<T, 0>::new()` does not compile:
///
/// ```compile_fail
/// static EMPTY: sluicebox::StaticChannel<u8, 0> = sluicebox::StaticChannel::new();
/// ```
pub struct StaticChannel<T, const N: usize> {
    core: Core,
    slots: [Slot<T>; N],
}

// SAFETY: as for `Chan` (see `chan/core.rs`): items move between threads (`T: Send`) and
// are never shared; the slots are reached only through the ring's protocol.
unsafe impl<T: Send, const N: usize> Send for StaticChannel<T, N> {}
// SAFETY: as above. This is what lets a `StaticChannel` live in a `static`.
unsafe impl<T: Send, const N: usize> Sync for StaticChannel<T, N> {}

impl<T, const N: usize> Drop for StaticChannel<T, N> {
    fn drop(&mut self) {
        // Exclusive access: drop every item still queued, each exactly once.
        self.view().drop_items();
    }
}

impl<T, const N: usize> StaticChannel<T, N> {
    const VALID: () = assert!(
        N > 0 && N <= crate::ring::MAX_CAPACITY,
        "sluicebox: a StaticChannel needs 1 <= N <= sluicebox::MAX_CAPACITY slots"
    );

    crate::loom::const_fn! {
        /// An empty, open channel with `N` slots.
        ///
        /// # Panics
        ///
        /// Never at run time: `N == 0` is a compile error.
        #[must_use]
        pub const fn new() -> Self {
            Self::starting_at_lap(0)
        }
    }

    crate::loom::const_fn! {
        /// Like `new`, with the ring's positions starting at lap `start_lap`. For tests
        /// of position wrap-around; not part of the stable API.
        #[doc(hidden)]
        #[must_use]
        pub const fn starting_at_lap(start_lap: usize) -> Self {
            #[allow(clippy::let_unit_value)]
            let () = Self::VALID;
            Self {
                core: Core::new(N, start_lap),
                slots: static_slots::<T, N>(start_lap),
            }
        }
    }
}

crate::loom::const_fn! {
    const fn static_slots<T, const N: usize>(start_lap: usize) -> [Slot<T>; N] {
        // `[Slot::new(..); N]` needs `Copy`; build the array index by index instead.
        let mut slots: [core::mem::MaybeUninit<Slot<T>>; N] =
            [const { core::mem::MaybeUninit::uninit() }; N];
        let mut i = 0;
        while i < N {
            slots[i] = core::mem::MaybeUninit::new(Slot::new(Ring::initial_stamp(N, start_lap, i)));
            i += 1;
        }
        // `transmute` cannot see that these two array types have one size (N is
        // generic), and `array_assume_init` is unstable; a union does the same job.
        union Init<T, const N: usize> {
            uninit: core::mem::ManuallyDrop<[core::mem::MaybeUninit<Slot<T>>; N]>,
            init: core::mem::ManuallyDrop<[Slot<T>; N]>,
        }
        let init = Init {
            uninit: core::mem::ManuallyDrop::new(slots),
        };
        // SAFETY: the loop initialized all `N` elements, and `MaybeUninit<X>` has the layout
        // of `X`, so the initialized bytes are a valid `[Slot<T>; N]`.
        core::mem::ManuallyDrop::into_inner(unsafe { init.init })
    }
}

impl<T, const N: usize> StaticChannel<T, N> {
    #[inline]
    pub(crate) fn view(&self) -> Chan<'_, T> {
        Chan::new(&self.core, &self.slots)
    }
}

impl<T, const N: usize> Default for StaticChannel<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> core::fmt::Debug for StaticChannel<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StaticChannel")
            .field("len", &self.view().len())
            .field("capacity", &N)
            .field("closed", &self.view().is_closed())
            .finish()
    }
}

impl<T, const N: usize> sealed::Sealed for &StaticChannel<T, N> {}
impl<T, const N: usize> StaticChannel<T, N> {
    #[cfg(not(loom))]
    fn core_ref(&self) -> &Core {
        &self.core
    }
}

impl<T, const N: usize> ChannelRef<T> for &StaticChannel<T, N> {
    #[inline]
    #[allow(private_interfaces)]
    fn chan(&self) -> Chan<'_, T> {
        self.view()
    }

    #[cfg(not(loom))]
    fn erase_monitor<'a>(self) -> crate::AnyMonitor<'a>
    where
        Self: 'a,
        T: Send,
    {
        crate::AnyMonitor::borrowed(self.core_ref())
    }
}

#[cfg(feature = "alloc")]
mod heap {
    use super::*;
    use crate::loom::Arc;
    use alloc::boxed::Box;

    /// A heap channel's state and slots, behind the `Arc` its handles share.
    pub(crate) struct HeapChan<T> {
        core: Core,
        slots: Box<[Slot<T>]>,
    }

    // SAFETY: as for `StaticChannel`.
    unsafe impl<T: Send> Send for HeapChan<T> {}
    // SAFETY: as for `StaticChannel`.
    unsafe impl<T: Send> Sync for HeapChan<T> {}

    impl<T> Drop for HeapChan<T> {
        fn drop(&mut self) {
            // The last handle is gone: drop every item still queued, each exactly once.
            Chan::new(&self.core, &self.slots).drop_items();
        }
    }

    /// A reference to a heap channel made by [`bounded`](crate::bounded): what its handles
    /// hold. Cloning it is an `Arc` clone.
    pub struct Heap<T>(pub(crate) Arc<HeapChan<T>>);

    impl<T> Clone for Heap<T> {
        fn clone(&self) -> Self {
            Self(Arc::clone(&self.0))
        }
    }

    impl<T> core::fmt::Debug for Heap<T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_tuple("Heap").field(&self.chan()).finish()
        }
    }

    impl<T> sealed::Sealed for Heap<T> {}
    impl<T> ChannelRef<T> for Heap<T> {
        #[inline]
        #[allow(private_interfaces)]
        fn chan(&self) -> Chan<'_, T> {
            Chan::new(&self.0.core, &self.0.slots)
        }

        #[cfg(not(loom))]
        fn erase_monitor<'a>(self) -> crate::AnyMonitor<'a>
        where
            Self: 'a,
            T: Send,
        {
            // An unsizing conversion of the same `Arc`: no allocation.
            let owner: Arc<dyn crate::chan::OwnsCore + 'a> = self.0;
            crate::AnyMonitor::shared(owner)
        }
    }

    #[cfg(not(loom))]
    impl<T: Send> crate::chan::OwnsCore for HeapChan<T> {
        fn core(&self) -> &Core {
            &self.core
        }
    }

    impl<T> Heap<T> {
        /// A heap channel of `capacity` slots whose positions start at lap `start_lap`.
        pub(crate) fn new(capacity: usize, start_lap: usize) -> Self {
            assert!(
                capacity > 0,
                "sluicebox: channel capacity must be at least 1"
            );
            let fits = capacity <= crate::ring::MAX_CAPACITY
                && capacity
                    .checked_mul(core::mem::size_of::<Slot<T>>())
                    .is_some_and(|bytes| bytes <= isize::MAX as usize);
            assert!(
                fits,
                "sluicebox: channel capacity {capacity} is too large (its slots would not fit in memory)"
            );
            // `try_reserve_exact`, not `collect`: an allocation the system refuses becomes a
            // clear panic here instead of an abort in the allocator's error handler.
            let mut slots = alloc::vec::Vec::new();
            if slots.try_reserve_exact(capacity).is_err() {
                panic!(
                    "sluicebox: channel capacity {capacity} is too large (the allocator refused {} bytes)",
                    capacity.saturating_mul(core::mem::size_of::<Slot<T>>())
                );
            }
            slots.extend(
                (0..capacity).map(|i| Slot::new(Ring::initial_stamp(capacity, start_lap, i))),
            );
            let slots: Box<[Slot<T>]> = slots.into_boxed_slice();
            Self(Arc::new(HeapChan {
                core: Core::new(capacity, start_lap),
                slots,
            }))
        }
    }
}

#[cfg(feature = "alloc")]
pub use heap::Heap;
