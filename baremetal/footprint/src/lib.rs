//! The runtime every footprint program shares, so that only the channel and semaphore
//! differ between them: a poll loop with a no-op waker as the executor, and the
//! semihosting exit. The panic handler is `panic-halt` (a panic hangs until the runner's
//! `timeout 20`); it prints nothing, so no `core::fmt` is linked.

#![no_std]

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};

use cortex_m_semihosting::debug;
use panic_halt as _;

/// Polls `fut` until it is ready, with a waker that does nothing: the programs run one
/// future on one core, so a `Pending` just means "poll again".
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

/// Ends the QEMU run: exit code 0 if `ok`, 1 otherwise.
pub fn exit(ok: bool) -> ! {
    debug::exit(if ok {
        debug::EXIT_SUCCESS
    } else {
        debug::EXIT_FAILURE
    });
    loop {
        cortex_m::asm::wfi();
    }
}
