#![doc = include_str!("../README.md")]
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    clippy::undocumented_unsafe_blocks
)]

#[cfg(feature = "alloc")]
extern crate alloc;
// Unit tests use `Vec` even when the crate itself is `no_std`.
#[cfg(all(test, not(feature = "std")))]
extern crate std;

mod chan;
mod loom;
mod ring;
mod semaphore;
mod stats;
mod storage;
mod wait;

#[cfg(feature = "alloc")]
pub use chan::{bounded, bounded_starting_at_lap};
pub use chan::{
    error::{RecvError, SendError, TryRecvError, TrySendError},
    ClosedFuture, Monitor, Permit, PollSender, Receiver, RecvFuture, RecvStream, ReserveFuture,
    SendFuture, Sender, StaticMonitor, StaticReceiver, StaticSender, WeakSender,
};
#[cfg(feature = "alloc")]
pub use semaphore::OwnedSemaphorePermit;
pub use semaphore::{Acquire, AcquireError, Semaphore, SemaphorePermit, TryAcquireError};
pub use stats::Stats;
#[cfg(feature = "alloc")]
pub use storage::Heap;
pub use storage::{ChannelRef, StaticChannel};
