//! The channel: shared state (`core.rs`), handles, errors.
//!
//! One `Chan` serves every storage; `Sender`, `Receiver` and `WeakSender` are generic over
//! the [`ChannelRef`] that reaches it (a `&StaticChannel` or a [`Heap`](crate::Heap)).

#[cfg(not(loom))]
mod any_monitor;
mod core;
pub(crate) mod error;
mod future;
mod monitor;
mod owned_permit;
mod poll_sender;
mod receiver;
mod reserve_many;
mod sender;
#[cfg(feature = "sink")]
mod sink;

pub(crate) use self::core::{Chan, Core, WAIT_OUT_IN_FLIGHT};
#[cfg(not(loom))]
pub use any_monitor::AnyMonitor;
#[cfg(all(feature = "alloc", not(loom)))]
pub(crate) use any_monitor::OwnsCore;
pub use future::{ClosedFuture, Permit, RecvFuture, ReserveFuture, SendFuture};
pub use monitor::Monitor;
pub use owned_permit::OwnedPermit;
pub use poll_sender::PollSender;
pub use receiver::{Receiver, RecvStream, WeakReceiver};
pub use reserve_many::{PermitIterator, ReserveManyFuture};
pub use sender::{Sender, WeakSender};
#[cfg(feature = "sink")]
pub use sink::SinkSender;

use crate::storage::StaticChannel;

/// A [`Sender`] of a [`StaticChannel`].
pub type StaticSender<'a, T, const N: usize> = Sender<T, &'a StaticChannel<T, N>>;
/// A [`Receiver`] of a [`StaticChannel`].
pub type StaticReceiver<'a, T, const N: usize> = Receiver<T, &'a StaticChannel<T, N>>;
/// A [`Monitor`] of a [`StaticChannel`].
pub type StaticMonitor<'a, T, const N: usize> = Monitor<T, &'a StaticChannel<T, N>>;

/// Declares a handle struct whose channel reference defaults to [`Heap`](crate::Heap) when
/// the heap exists (`alloc`), so `Sender<T>` means a heap channel's sender.
macro_rules! handle_struct {
    ($(#[$meta:meta])* $name:ident) => {
        #[cfg(feature = "alloc")]
        $(#[$meta])*
        pub struct $name<T, R: crate::ChannelRef<T> = crate::Heap<T>> {
            pub(crate) chan: R,
            _items: ::core::marker::PhantomData<fn() -> T>,
        }

        #[cfg(not(feature = "alloc"))]
        $(#[$meta])*
        pub struct $name<T, R: crate::ChannelRef<T>> {
            pub(crate) chan: R,
            _items: ::core::marker::PhantomData<fn() -> T>,
        }

        impl<T, R: crate::ChannelRef<T>> $name<T, R> {
            /// Wraps a reference; the caller has already counted the handle.
            fn from_counted(chan: R) -> Self {
                Self { chan, _items: ::core::marker::PhantomData }
            }
        }
    };
}
pub(crate) use handle_struct;

/// The monitoring and closing methods every handle (and `StaticChannel`) has: one-line
/// delegations to `Chan`, written once.
macro_rules! observers {
    () => {
        crate::chan::readers!();

        /// Closes the channel: sends fail from now on; items already queued can still be
        /// received, then receivers see the end. Wakes every waiting sender and receiver.
        /// Returns `true` if this call closed it.
        ///
        /// ```
        /// let (tx, rx) = sluicebox::bounded::<u8>(4);
        /// tx.try_send(1).unwrap();
        /// assert!(rx.close());
        /// assert!(tx.try_send(2).unwrap_err().is_closed());
        /// assert_eq!(rx.try_recv(), Ok(1));
        /// assert_eq!(rx.try_recv(), Err(sluicebox::TryRecvError::Closed));
        /// ```
        pub fn close(&self) -> bool {
            self.chan().close()
        }
    };
}
pub(crate) use observers;

/// The read-only monitoring methods: every handle, `StaticChannel` and [`Monitor`].
macro_rules! readers {
    () => {
        /// Number of items in the channel now. Always in `0..=capacity`.
        ///
        /// ```
        /// let (tx, _rx) = sluicebox::bounded::<u8>(4);
        /// tx.try_send(1).unwrap();
        /// assert_eq!(tx.len(), 1);
        /// ```
        pub fn len(&self) -> usize {
            self.chan().len()
        }

        /// Number of slots: the bound.
        ///
        /// ```
        /// let (tx, _rx) = sluicebox::bounded::<u8>(4);
        /// assert_eq!(tx.capacity(), 4);
        /// ```
        pub fn capacity(&self) -> usize {
            self.chan().capacity()
        }

        /// Whether the channel holds no items now.
        ///
        /// ```
        /// let (tx, _rx) = sluicebox::bounded::<u8>(4);
        /// assert!(tx.is_empty());
        /// ```
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }

        /// Room held by send permits now: reserved, not yet sent or dropped. Senders wait
        /// when `len() + reserved() == capacity()`.
        ///
        /// ```
        /// let (tx, _rx) = sluicebox::bounded::<u8>(4);
        /// let permit = tx.try_reserve().unwrap();
        /// assert_eq!((tx.len(), tx.reserved()), (0, 1));
        /// permit.send(1);
        /// assert_eq!((tx.len(), tx.reserved()), (1, 0));
        /// ```
        pub fn reserved(&self) -> usize {
            self.chan().reserved()
        }

        /// Whether no room is left now: every slot holds an item or is reserved by a
        /// send permit, so a `try_send` would find the channel full.
        ///
        /// ```
        /// let (tx, _rx) = sluicebox::bounded::<u8>(2);
        /// tx.try_send(1).unwrap();
        /// assert!(!tx.is_full());
        /// let _permit = tx.try_reserve().unwrap();
        /// assert!(tx.is_full());
        /// ```
        pub fn is_full(&self) -> bool {
            !self.chan().space_left()
        }

        /// Whether the channel is closed.
        ///
        /// ```
        /// let (tx, rx) = sluicebox::bounded::<u8>(4);
        /// drop(rx);
        /// assert!(tx.is_closed());
        /// ```
        pub fn is_closed(&self) -> bool {
            self.chan().is_closed()
        }

        /// Number of live senders (weak senders and monitors are not counted).
        ///
        /// ```
        /// let (tx, _rx) = sluicebox::bounded::<u8>(4);
        /// let tx2 = tx.clone();
        /// assert_eq!(tx2.sender_count(), 2);
        /// ```
        pub fn sender_count(&self) -> usize {
            self.chan().sender_count()
        }

        /// Number of live receivers.
        ///
        /// ```
        /// let (tx, rx) = sluicebox::bounded::<u8>(4);
        /// let _rx2 = rx.clone();
        /// assert_eq!(tx.receiver_count(), 2);
        /// ```
        pub fn receiver_count(&self) -> usize {
            self.chan().receiver_count()
        }

        /// A snapshot of the channel's state; see [`Stats`](crate::Stats).
        ///
        /// ```
        /// let (tx, rx) = sluicebox::bounded::<u8>(4);
        /// tx.try_send(1).unwrap();
        /// tx.try_send(2).unwrap();
        /// rx.try_recv().unwrap();
        /// let s = tx.stats();
        /// assert_eq!((s.len, s.sent, s.received), (1, 2, 1));
        /// ```
        pub fn stats(&self) -> crate::Stats {
            self.chan().stats()
        }
    };
}
pub(crate) use readers;

impl<T, const N: usize> StaticChannel<T, N> {
    /// A sender and a receiver for this channel. More come from `clone`, [`sender`] and
    /// [`receiver`].
    ///
    /// Handles are counted as for heap channels: when the last sender is dropped the
    /// channel closes (after its items drain), and when the last receiver is dropped sends
    /// fail. A closed static channel stays closed. To keep a static channel open forever,
    /// keep one sender alive (or `core::mem::forget` it).
    ///
    /// [`sender`]: StaticChannel::sender
    /// [`receiver`]: StaticChannel::receiver
    ///
    /// ```
    /// static CH: sluicebox::StaticChannel<&str, 2> = sluicebox::StaticChannel::new();
    /// let (tx, rx) = CH.split();
    /// tx.try_send("hi").unwrap();
    /// assert_eq!(rx.try_recv(), Ok("hi"));
    /// ```
    pub fn split(&self) -> (StaticSender<'_, T, N>, StaticReceiver<'_, T, N>) {
        (self.sender(), self.receiver())
    }

    /// A new counted sender for this channel.
    ///
    /// ```
    /// static CH: sluicebox::StaticChannel<u8, 2> = sluicebox::StaticChannel::new();
    /// let tx = CH.sender();
    /// assert_eq!(CH.sender_count(), 1);
    /// ```
    pub fn sender(&self) -> StaticSender<'_, T, N> {
        Sender::new(self)
    }

    /// A new counted receiver for this channel.
    ///
    /// ```
    /// static CH: sluicebox::StaticChannel<u8, 2> = sluicebox::StaticChannel::new();
    /// let rx = CH.receiver();
    /// assert_eq!(CH.receiver_count(), 1);
    /// ```
    pub fn receiver(&self) -> StaticReceiver<'_, T, N> {
        Receiver::new(self)
    }

    /// A read-only [`Monitor`] of this channel: `stats()`, `len()` and friends, not
    /// counted as a sender or receiver.
    ///
    /// ```
    /// static CH: sluicebox::StaticChannel<u8, 2> = sluicebox::StaticChannel::new();
    /// let gauge = CH.monitor();
    /// let (tx, _rx) = CH.split();
    /// tx.try_send(1).unwrap();
    /// assert_eq!((gauge.len(), gauge.sender_count()), (1, 1));
    /// ```
    pub fn monitor(&self) -> StaticMonitor<'_, T, N> {
        Monitor::new(self)
    }

    fn chan(&self) -> Chan<'_, T> {
        self.view()
    }

    observers!();
}

/// Makes a bounded MPMC channel with room for `capacity` items, on the heap.
///
/// ```
/// let (tx, rx) = sluicebox::bounded(2);
/// tx.try_send("a").unwrap();
/// tx.try_send("b").unwrap();
/// assert!(tx.try_send("c").unwrap_err().is_full());
/// assert_eq!(rx.try_recv(), Ok("a"));
/// ```
///
/// # Memory
///
/// One allocation of `capacity` slots, each an item and a `usize` stamp. With the `std`
/// feature a slot is padded to a cache line (128 bytes on x86-64, AArch64 and POWER64;
/// 64 elsewhere) so that the two ends of a busy channel do not share a line between
/// cores: a capacity-1,024 channel of `u64` takes 128 KiB there, 16 KiB without `std`.
///
/// # Panics
///
/// If `capacity` is 0, or so large that its slots could not be allocated
/// (`capacity * size_of::<slot>() > isize::MAX`, `capacity >`
/// [`MAX_CAPACITY`](crate::MAX_CAPACITY), or the
/// allocator refuses the memory: the panic message says which).
#[cfg(feature = "alloc")]
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    bounded_starting_at_lap(capacity, 0)
}

/// Like [`bounded`], with the ring's positions starting at lap `start_lap`. For tests of
/// position wrap-around; not part of the stable API.
#[cfg(feature = "alloc")]
#[doc(hidden)]
pub fn bounded_starting_at_lap<T>(capacity: usize, start_lap: usize) -> (Sender<T>, Receiver<T>) {
    let chan = crate::Heap::new(capacity, start_lap);
    (Sender::new(chan.clone()), Receiver::new(chan))
}
