//! Where a channel's slots live, and how handles reach the channel.
//!
//! The ring and the channel state are written once, over `&[Slot<T>]`. A storage only
//! says where that slice is: an inline array (`StaticChannel<T, N>`, usable in a `static`)
//! or a heap box (`bounded`, feature `alloc`). Handles are generic over a
//! [`ChannelRef`]: a `&StaticChannel` or a reference-counted heap channel. No reference
//! counting is needed for a static channel: its handles borrow it.

use crate::chan::Chan;
use crate::ring::{Ring, Slot};

mod sealed {
    pub trait Sealed {}
}

/// Where a channel's slots live. Sealed: implemented for inline arrays and heap boxes.
pub trait Storage<T>: sealed::Sealed {
    #[doc(hidden)]
    fn slots(&self) -> &[Slot<T>];
}

impl<T, const N: usize> sealed::Sealed for [Slot<T>; N] {}
impl<T, const N: usize> Storage<T> for [Slot<T>; N] {
    #[inline]
    fn slots(&self) -> &[Slot<T>] {
        self
    }
}

/// How a handle reaches its channel. Sealed: implemented for `&StaticChannel<T, N>` and for
/// [`Heap<T>`] (the heap channel made by [`bounded`](crate::bounded)).
pub trait ChannelRef<T>: Clone + sealed::Sealed {
    #[doc(hidden)]
    type Storage: Storage<T>;
    #[doc(hidden)]
    fn chan(&self) -> &Chan<T, Self::Storage>;
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
    pub(crate) chan: Chan<T, [Slot<T>; N]>,
}

impl<T, const N: usize> StaticChannel<T, N> {
    const VALID: () = assert!(
        N > 0 && N <= crate::ring::MAX_CAPACITY,
        "sluicebox: a StaticChannel needs 1 <= N <= usize::MAX / 8 slots"
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
            let slots = static_slots::<T, N>(start_lap);
            Self {
                chan: Chan::with_slots(slots, N, start_lap),
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

impl<T, const N: usize> Default for StaticChannel<T, N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const N: usize> core::fmt::Debug for StaticChannel<T, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StaticChannel")
            .field("len", &self.chan.len())
            .field("capacity", &N)
            .field("closed", &self.chan.is_closed())
            .finish()
    }
}

impl<T, const N: usize> sealed::Sealed for &StaticChannel<T, N> {}
impl<T, const N: usize> ChannelRef<T> for &StaticChannel<T, N> {
    type Storage = [Slot<T>; N];
    #[inline]
    fn chan(&self) -> &Chan<T, [Slot<T>; N]> {
        &self.chan
    }
}

#[cfg(feature = "alloc")]
mod heap {
    use super::*;
    use crate::loom::Arc;
    use alloc::boxed::Box;

    impl<T> sealed::Sealed for Box<[Slot<T>]> {}
    impl<T> Storage<T> for Box<[Slot<T>]> {
        #[inline]
        fn slots(&self) -> &[Slot<T>] {
            self
        }
    }

    /// A reference to a heap channel made by [`bounded`](crate::bounded): what its handles
    /// hold. Cloning it is an `Arc` clone.
    pub struct Heap<T>(pub(crate) Arc<Chan<T, Box<[Slot<T>]>>>);

    impl<T> Clone for Heap<T> {
        fn clone(&self) -> Self {
            Self(Arc::clone(&self.0))
        }
    }

    impl<T> core::fmt::Debug for Heap<T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.debug_tuple("Heap").field(&self.0).finish()
        }
    }

    impl<T> sealed::Sealed for Heap<T> {}
    impl<T> ChannelRef<T> for Heap<T> {
        type Storage = Box<[Slot<T>]>;
        #[inline]
        fn chan(&self) -> &Chan<T, Box<[Slot<T>]>> {
            &self.0
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
            Self(Arc::new(Chan::with_slots(slots, capacity, start_lap)))
        }
    }
}

#[cfg(feature = "alloc")]
pub use heap::Heap;
