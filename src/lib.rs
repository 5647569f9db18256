//! Bounded MPMC channels and a fair async semaphore for backpressure: allocation-free,
//! executor-agnostic, `no_std` without a heap, with a fill level readable at any time.
//!
//! | to | use |
//! |---|---|
//! | make a channel on the heap | [`bounded`]: a [`Sender`] and a [`Receiver`], both `Clone` |
//! | make one with no heap (`static`) | [`StaticChannel::new`], [`split`](StaticChannel::split) |
//! | wait while full | [`send`](Sender::send) |
//! | drop the newest / oldest when full | [`try_send`](Sender::try_send), [`force_send`](Sender::force_send) |
//! | hold room, send later | [`reserve`](Sender::reserve), then [`Permit::send`] |
//! | receive one / a batch / until a deadline | [`recv`](Receiver::recv), [`recv_many`](Receiver::recv_many), [`recv_batch`](Receiver::recv_batch) |
//! | receive as a `Stream` | [`into_stream`](Receiver::into_stream) |
//! | use plain threads | `send_blocking`, `recv_blocking`, `acquire_blocking` |
//! | cap work in flight | [`Semaphore`] |
//! | watch a channel | [`stats`](Sender::stats), [`monitor`](Sender::monitor) |
//!
//! `try_` calls never wait; async calls run on any executor.
//!
//! ```
//! # futures::executor::block_on(async {
//! let (tx, rx) = sluicebox::bounded(2);
//! tx.send(1).await.unwrap(); // waits while full: backpressure
//! drop(tx); // the last sender's drop closes the channel, once drained
//! assert_eq!(rx.recv().await, Some(1));
//! assert_eq!(rx.recv().await, None);
//! # });
//! ```
//!
//! Dropping instead of waiting; a failed send hands the value back:
//!
//! ```
//! use sluicebox::TrySendError;
//! let (tx, rx) = sluicebox::bounded(1);
//! tx.try_send(1).unwrap();
//! assert_eq!(tx.try_send(2), Err(TrySendError::Full(2))); // drop the newest
//! assert_eq!(tx.force_send(3), Ok(Some(1))); // drop the oldest
//! assert_eq!(rx.try_recv(), Ok(3));
//! ```
//!
//! Batches, reserved room and a stream:
//!
//! ```
//! # futures::executor::block_on(async {
//! use futures::StreamExt;
//! let (tx, rx) = sluicebox::bounded(8);
//! for i in 0..3 {
//!     tx.try_send(i).unwrap();
//! }
//! let mut batch = Vec::new();
//! rx.recv_many(&mut batch, 2).await;
//! assert_eq!(batch, [0, 1]);
//! tx.reserve().await.unwrap().send(3); // a permit's send cannot fail
//! drop(tx);
//! let rest: Vec<_> = std::pin::pin!(rx.into_stream()).collect().await;
//! assert_eq!(rest, [2, 3]);
//! # });
//! ```
//!
//! No heap, and a semaphore:
//!
//! ```
//! use sluicebox::{Semaphore, StaticChannel};
//! static QUEUE: StaticChannel<u32, 16> = StaticChannel::new();
//! static IN_FLIGHT: Semaphore = Semaphore::new(1);
//!
//! let (tx, rx) = QUEUE.split();
//! let permit = IN_FLIGHT.try_acquire().unwrap();
//! assert!(IN_FLIGHT.try_acquire().is_err()); // at most one at a time
//! tx.try_send(7).unwrap();
//! assert_eq!(rx.try_recv(), Ok(7));
//! drop(permit); // returns it
//! ```
//!
//! Threads, and the numbers:
//!
//! ```
//! let (tx, rx) = sluicebox::bounded(4);
//! let monitor = tx.monitor(); // read-only; does not keep it open
//! let consumer = std::thread::spawn(move || rx.recv_blocking());
//! tx.send_blocking(5).unwrap();
//! assert_eq!(consumer.join().unwrap(), Ok(5));
//! let s = monitor.stats();
//! assert_eq!((s.len, s.capacity, s.sent, s.received), (0, 4, 1, 1));
//! ```
//!
//! # Features
//!
//! - `std` (default): implies `alloc`; adds the blocking calls.
//! - `alloc`: heap channels ([`bounded`]) and permits owned through an `Arc<Semaphore>`.
//! - none: `#![no_std]` without `alloc`: [`StaticChannel`], [`Semaphore`] and every async
//!   and `try_` call.
//! - `critical-section`: the wait lists' short lock becomes a critical section of the
//!   [`critical-section`](https://docs.rs/critical-section) crate (the program links an
//!   implementation), so interrupt handlers may use the crate: see below.
//! - `tokio`: `recv`, `send`, `reserve`, the stream and `acquire` take part in tokio's
//!   cooperative budget (tokio >= 1.47), so a consumer that always finds an item still
//!   lets the runtime's other tasks run. No cost when off; no effect outside tokio.
//! - `sink`: [`futures_sink::Sink`](https://docs.rs/futures-sink) for a sender
//!   (`Sender::into_sink`, a `SinkSender`).
//! - `prometheus`: `sluicebox::prometheus::Collector`, a `prometheus_client` collector of
//!   channels and semaphores, read on scrape.
//! - `portable-atomic`: atomics from [`portable-atomic`](https://docs.rs/portable-atomic),
//!   for targets without compare-and-swap (thumbv6m, riscv32imc). The program chooses
//!   `portable-atomic`'s fallback (its `critical-section` feature, or
//!   `unsafe-assume-single-core`), as that crate documents.
//!
//! # Interrupt handlers
//!
//! An interrupt handler may call every operation that does not wait — **if the crate is
//! built with the `critical-section` feature**:
//!
//! - channels: `try_send`, [`force_send`](Sender::force_send), `try_recv`, `try_reserve`
//!   and then [`Permit::send`] or dropping the permit, `close`, making and dropping
//!   handles, and the readers (`stats`, `len`, `is_full`, ...);
//! - the semaphore: `try_acquire`, `try_acquire_many`, dropping or forgetting a
//!   [`SemaphorePermit`], [`add_permits`](Semaphore::add_permits), `close`, the readers.
//!
//! The waiting operations (`send`, `recv`, `reserve`, `acquire`, `closed` futures, the
//! stream) are for tasks. None of the operations above waits for the code the handler
//! interrupted: with the feature, a slot that code left half-written makes them report
//! `Full` or `Empty` rather than wait, and they never call into an OS scheduler, so
//! this holds on `std` targets with interrupts too (ESP-IDF). A wake from a handler runs
//! the task's waker there, so the executor's wakers must allow it (embedded executors'
//! do).
//!
//! Without the feature the lock is a spin lock, the fastest choice where only threads or
//! tasks use a channel; a handler that wants it while the interrupted code holds it spins
//! forever. The repository's `baremetal/src/bin/isr.rs` runs both builds under QEMU.
//!
//! # Further reading
//!
//! In the repository: `README.md` (runnable strategy examples, metrics exporters, design
//! choices), `docs/PERFORMANCE.md` (benchmarks) and `docs/pitfalls.md`: the bug classes
//! these docs cite as "PITFALLS `tag`", with the tests that guard each.
#![cfg_attr(not(feature = "std"), no_std)]
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms,
    clippy::undocumented_unsafe_blocks
)]

// Without compare-and-swap the ring and the locks cannot be built on core's atomics: say
// which feature to turn on, rather than fail with dozens of missing-method errors.
#[cfg(all(
    not(loom),
    not(target_has_atomic = "ptr"),
    not(feature = "portable-atomic")
))]
compile_error!(
    "sluicebox needs atomic compare-and-swap, which this target does not have: enable \
     sluicebox's `portable-atomic` feature, and choose portable-atomic's fallback (its \
     `critical-section` feature or `unsafe-assume-single-core`), as portable-atomic documents"
);

#[cfg(feature = "alloc")]
extern crate alloc;
// Unit tests use `Vec` even when the crate itself is `no_std`.
#[cfg(all(test, not(feature = "std")))]
extern crate std;

// README's code blocks are doctests too, without being part of the rendered docs.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

mod chan;
mod coop;
mod loom;
#[cfg(all(feature = "prometheus", not(loom)))]
pub mod prometheus;
mod ring;
mod semaphore;
mod stats;
mod storage;
mod wait;

#[cfg(not(loom))]
pub use chan::AnyMonitor;
#[cfg(feature = "sink")]
pub use chan::SinkSender;
#[cfg(feature = "alloc")]
pub use chan::{bounded, bounded_starting_at_lap};
pub use chan::{
    error::{RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError, TrySendError},
    ClosedFuture, Monitor, OwnedPermit, Permit, PermitIterator, PollSender, Receiver, RecvFuture,
    RecvStream, ReserveFuture, ReserveManyFuture, SendFuture, Sender, StaticMonitor,
    StaticReceiver, StaticSender, WeakReceiver, WeakSender,
};
#[cfg(feature = "alloc")]
pub use semaphore::OwnedSemaphorePermit;

/// The largest capacity a channel can have: 2^26 - 1 (67,108,863) on 64-bit targets,
/// 1,023 on 32-bit ones. [`bounded`] and [`StaticChannel`] reject larger ones with a
/// panic (at compile time for a `StaticChannel`).
///
/// The ring's position word holds the slot index, the number of send permits out (as
/// many bits again) and at least 8 bits of lap count, which keep a thread preempted for a
/// while from mistaking an old read of the word for a current one.
///
/// ```
/// assert!(sluicebox::MAX_CAPACITY >= 1023);
/// ```
pub const MAX_CAPACITY: usize = ring::MAX_CAPACITY;
pub use semaphore::{Acquire, AcquireError, Semaphore, SemaphorePermit, TryAcquireError};
pub use stats::Stats;
#[cfg(feature = "alloc")]
pub use storage::Heap;
pub use storage::{ChannelRef, StaticChannel};
