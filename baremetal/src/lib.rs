//! What the bare-metal programs share: flag wakers (no heap), `yield_now`, a future that
//! counts its `Pending`s, and the name of the target built for.
//!
//! Atomics come from `portable-atomic`, so the same code builds for the Cortex-M0
//! (thumbv6m, no compare-and-swap; there `portable-atomic` takes a critical section) and
//! uses the native instructions on the Cortex-M3/M4F.

#![no_std]

use core::cell::Cell;
use core::future::{poll_fn, Future};
use core::pin::pin;
use core::task::{Poll, RawWaker, RawWakerVTable, Waker};
use portable_atomic::{AtomicBool, AtomicU32, Ordering};

/// Wakes counted by [`flag_waker`]s, split by where the wake ran.
pub static WAKES: AtomicU32 = AtomicU32::new(0);
/// Of [`WAKES`], those that ran in an interrupt or exception handler.
pub static WAKES_IN_HANDLER: AtomicU32 = AtomicU32::new(0);

// The vtable's functions are `unsafe fn` because `RawWakerVTable` requires it; their one
// precondition is that `data` came from `flag_waker`, which only core's `Waker` calls
// them with.
static FLAG_VTABLE: RawWakerVTable =
    RawWakerVTable::new(flag_clone, flag_wake, flag_wake, flag_drop);

unsafe fn flag_clone(data: *const ()) -> RawWaker {
    RawWaker::new(data, &FLAG_VTABLE)
}

unsafe fn flag_wake(data: *const ()) {
    // SAFETY: every waker with this vtable was made by `flag_waker` from a
    // `&'static AtomicBool`, so `data` points to a live `AtomicBool` forever.
    let flag = unsafe { &*data.cast::<AtomicBool>() };
    // Release: pairs with the executor's Acquire swap.
    flag.store(true, Ordering::Release);
    // Statistics only: Relaxed.
    WAKES.fetch_add(1, Ordering::Relaxed);
    if in_handler() {
        WAKES_IN_HANDLER.fetch_add(1, Ordering::Relaxed);
    }
}

unsafe fn flag_drop(_: *const ()) {}

/// A waker that sets `flag`. Cloning and dropping it do nothing else; it never allocates.
pub fn flag_waker(flag: &'static AtomicBool) -> Waker {
    let raw = RawWaker::new(core::ptr::from_ref(flag).cast(), &FLAG_VTABLE);
    // SAFETY: the vtable's functions only read `data` as the `&'static AtomicBool` it was
    // made from; cloning copies the pointer and dropping does nothing, so the RawWaker
    // contract holds, and a `'static` atomic may be touched from any context.
    unsafe { Waker::from_raw(raw) }
}

/// Whether the CPU runs an exception or interrupt handler now (IPSR is non-zero).
pub fn in_handler() -> bool {
    let ipsr: u32;
    // SAFETY: reading IPSR has no side effects and is allowed at any privilege level.
    unsafe {
        core::arch::asm!("mrs {}, IPSR", out(reg) ipsr, options(nomem, nostack, preserves_flags))
    };
    ipsr & 0x1ff != 0
}

/// Returns `Pending` once (waking itself first), then `Ready`.
pub fn yield_now() -> impl Future<Output = ()> {
    let mut yielded = false;
    poll_fn(move |cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
}

/// Awaits `fut`, counting how many times it returned `Pending`.
pub async fn counted<F: Future>(fut: F, pendings: &Cell<u32>) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        let poll = fut.as_mut().poll(cx);
        if poll.is_pending() {
            pendings.set(pendings.get() + 1);
        }
        poll
    })
    .await
}

/// Adds `by` to a counter cell.
pub fn bump(c: &Cell<u32>, by: u32) {
    c.set(c.get() + by);
}

/// The target this program was built for.
pub const TARGET: &str = if cfg!(target_abi = "eabihf") {
    "thumbv7em-none-eabihf"
} else if cfg!(target_has_atomic = "ptr") {
    "thumbv7m-none-eabi"
} else {
    "thumbv6m-none-eabi"
};
