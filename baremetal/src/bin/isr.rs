//! An interrupt handler as the producer: the embedded use a channel is for.
//!
//! SysTick fires `TICKS` times. Each time, its handler feeds a `StaticChannel` — `try_send`,
//! `force_send`, a permit that sends and a permit dropped unused, in turn — and releases
//! semaphore permits (`add_permits`, and a `try_acquire` dropped at once). Meanwhile
//! thread-mode tasks on a WFI executor `recv().await` and `acquire().await`, and a churn
//! task keeps registering and cancelling waiters, so the handler often interrupts thread
//! mode inside the channel's wait-list code. On the last tick the handler closes both.
//!
//! Built with sluicebox's `critical-section` feature (this crate's default `isr-safe`), the
//! wait-list lock masks interrupts, and the run must end with every item accounted for
//! exactly once: accepted = received + evicted, by count and by sum, and the channel's own
//! counters agree. Built without it (`--no-default-features`), the lock is a spin lock: a
//! handler that needs it while thread mode holds it spins forever, and the run hangs —
//! the CI runs that build too and expects the hang.
//!
//! The executor sleeps with WFI only when no task is ready, checked with interrupts masked
//! (a pending interrupt still ends WFI). After the last tick nothing can wake a task but
//! another task: if then every task is pending with no wake due, a wakeup was lost, and
//! the run fails as a stall instead of sleeping forever.

#![no_std]
#![no_main]

use core::cell::Cell;
use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use portable_atomic::{AtomicBool, AtomicU32, Ordering};
use sluicebox::{Semaphore, StaticChannel, StaticReceiver, TrySendError};
use sluicebox_baremetal::{bump, counted, flag_waker, yield_now, TARGET, WAKES, WAKES_IN_HANDLER};

/// SysTick interrupts; each one is one item offered to the channel.
const TICKS: u32 = 6_000;
/// Core clock cycles between ticks.
const RELOAD: u32 = 2_000;
const CAPACITY: usize = 4;
/// The churn task stops after this many ticks, so the executor also sleeps in WFI.
const CHURN_UNTIL: u32 = TICKS / 2;
/// A consumer stalls (busy, interrupts on) after every this many items, so the channel
/// fills and the handler's sends are rejected or evict.
const SLOW_EVERY: u32 = 50;
const TASKS: usize = 4;

static QUEUE: StaticChannel<u32, CAPACITY> = StaticChannel::new();
static PERMITS: Semaphore = Semaphore::new(0);

// ---------------------------------------------------------------------------------------
// What the handler did. Written only by the handler; read by thread mode at the end.

static TICK: AtomicU32 = AtomicU32::new(0);
static ISR_DONE: AtomicBool = AtomicBool::new(false);
static ACCEPTED: AtomicU32 = AtomicU32::new(0);
static ACCEPTED_SUM: AtomicU32 = AtomicU32::new(0);
static REJECTED: AtomicU32 = AtomicU32::new(0);
/// `try_send` and `force_send` refusals: what `Stats::rejected` counts.
static REJECTED_COUNTED: AtomicU32 = AtomicU32::new(0);
/// `force_send` refusals (also in `REJECTED` and `REJECTED_COUNTED`).
static FORCE_REFUSED: AtomicU32 = AtomicU32::new(0);
static EVICTED: AtomicU32 = AtomicU32::new(0);
static EVICTED_SUM: AtomicU32 = AtomicU32::new(0);
static PERMITS_DROPPED: AtomicU32 = AtomicU32::new(0);
static SEM_ROUND_TRIPS: AtomicU32 = AtomicU32::new(0);
/// Ticks that interrupted thread mode inside a sluicebox call (see `IN_CALL`).
static INTERRUPTED_CALLS: AtomicU32 = AtomicU32::new(0);
/// Set by thread mode while it polls a task (every task's work is channel and semaphore
/// calls) and around the churn task's own polls.
static IN_CALL: AtomicBool = AtomicBool::new(false);

fn accept(v: u32) {
    // Relaxed everywhere here: these are counters read after the last tick, which thread
    // mode learns of through `ISR_DONE` (Release/Acquire).
    ACCEPTED.fetch_add(1, Ordering::Relaxed);
    ACCEPTED_SUM.fetch_add(v, Ordering::Relaxed);
}

fn evict(old: u32) {
    EVICTED.fetch_add(1, Ordering::Relaxed);
    EVICTED_SUM.fetch_add(old, Ordering::Relaxed);
}

#[exception]
fn SysTick() {
    let i = TICK.fetch_add(1, Ordering::Relaxed) + 1;
    if i > TICKS {
        return;
    }
    if IN_CALL.load(Ordering::Relaxed) {
        INTERRUPTED_CALLS.fetch_add(1, Ordering::Relaxed);
    }
    // A new handle each tick: the thread-mode `anchor` sender keeps the count above zero.
    let tx = QUEUE.sender();
    match i % 4 {
        0 => match tx.try_send(i) {
            Ok(()) => accept(i),
            Err(TrySendError::Full(_)) => {
                REJECTED.fetch_add(1, Ordering::Relaxed);
                REJECTED_COUNTED.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Closed(_)) => panic!("closed before the last tick"),
        },
        1 => match tx.force_send(i) {
            Ok(old) => {
                accept(i);
                if let Some(old) = old {
                    evict(old);
                }
            }
            // Refused while the oldest slot is mid-read: this tick interrupted a receive.
            Err(TrySendError::Full(_)) => {
                REJECTED.fetch_add(1, Ordering::Relaxed);
                REJECTED_COUNTED.fetch_add(1, Ordering::Relaxed);
                FORCE_REFUSED.fetch_add(1, Ordering::Relaxed);
            }
            Err(TrySendError::Closed(_)) => panic!("closed before the last tick"),
        },
        2 => match tx.try_reserve() {
            Ok(permit) => {
                permit.send(i);
                accept(i);
            }
            Err(_) => {
                REJECTED.fetch_add(1, Ordering::Relaxed);
            }
        },
        _ => match tx.try_reserve() {
            // Reserved and given back at once: the room goes to a waiting sender, if any.
            Ok(permit) => {
                drop(permit);
                PERMITS_DROPPED.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                REJECTED.fetch_add(1, Ordering::Relaxed);
            }
        },
    }
    drop(tx);
    PERMITS.add_permits(1);
    if i.is_multiple_of(8) {
        if let Ok(p) = PERMITS.try_acquire() {
            drop(p); // released again: wakes a waiting acquirer
            SEM_ROUND_TRIPS.fetch_add(1, Ordering::Relaxed);
        }
    }
    if i == TICKS {
        QUEUE.close();
        PERMITS.close();
        // SAFETY: stealing the core peripherals in the handler only to stop SysTick; thread
        // mode does not touch SYST after starting it.
        let mut syst = unsafe { cortex_m::Peripherals::steal() }.SYST;
        syst.disable_interrupt();
        syst.disable_counter();
        // Release: publishes the counters above to thread mode's Acquire load.
        ISR_DONE.store(true, Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------
// Thread mode.

static READY: [AtomicBool; TASKS] = [const { AtomicBool::new(true) }; TASKS];

#[derive(Default)]
struct Tally {
    received: Cell<u32>,
    received_sum: Cell<u32>,
    recv_pending: Cell<u32>,
    acquired: Cell<u32>,
    acquire_pending: Cell<u32>,
    churn_polls: Cell<u32>,
    slow_stalls: Cell<u32>,
}

impl Tally {
    fn take(&self, v: u32) {
        bump(&self.received, 1);
        self.received_sum.set(self.received_sum.get() + v);
    }
}

async fn consumer(rx: StaticReceiver<'static, u32, CAPACITY>, slow: bool, t: &Tally) {
    let mut mine = 0u32;
    while let Some(v) = counted(rx.recv(), &t.recv_pending).await {
        t.take(v);
        mine += 1;
        if slow && mine.is_multiple_of(SLOW_EVERY) {
            // Busy for a few ticks with interrupts on: the channel fills meanwhile.
            bump(&t.slow_stalls, 1);
            let until = TICK.load(Ordering::Relaxed) + 12;
            while TICK.load(Ordering::Relaxed) < until && !ISR_DONE.load(Ordering::Relaxed) {
                core::hint::spin_loop();
            }
        }
    }
}

async fn acquirer(t: &Tally) {
    while let Ok(permit) = counted(PERMITS.acquire(), &t.acquire_pending).await {
        permit.forget();
        bump(&t.acquired, 1);
    }
}

/// Registers and cancels waiters in a loop, so ticks land inside the wait lists' code.
async fn churn(rx: StaticReceiver<'static, u32, CAPACITY>, t: &Tally) {
    while TICK.load(Ordering::Relaxed) < CHURN_UNTIL {
        bump(&t.churn_polls, 1);
        {
            let mut recv = pin!(rx.recv());
            let waker = core::task::Waker::noop();
            IN_CALL.store(true, Ordering::Relaxed);
            let got = recv.as_mut().poll(&mut Context::from_waker(waker));
            IN_CALL.store(false, Ordering::Relaxed);
            if let Poll::Ready(Some(v)) = got {
                t.take(v);
            }
            // Dropped here: unregistered, any wakeup meant for it passed on.
        }
        {
            let mut acquire = pin!(PERMITS.acquire());
            let waker = core::task::Waker::noop();
            IN_CALL.store(true, Ordering::Relaxed);
            let got = acquire.as_mut().poll(&mut Context::from_waker(waker));
            IN_CALL.store(false, Ordering::Relaxed);
            if let Poll::Ready(Ok(permit)) = got {
                permit.forget();
                bump(&t.acquired, 1);
            }
        }
        yield_now().await;
    }
}

struct RunStats {
    polls: u32,
    sleeps: u32,
    stalled: bool,
}

/// Polls ready tasks until all are done; sleeps in WFI while none is ready.
fn run(tasks: &mut [Pin<&mut dyn Future<Output = ()>>; TASKS]) -> RunStats {
    let mut done = [false; TASKS];
    let mut stats = RunStats {
        polls: 0,
        sleeps: 0,
        stalled: false,
    };
    loop {
        for (i, task) in tasks.iter_mut().enumerate() {
            // Acquire: pairs with the waker's Release store.
            if done[i] || !READY[i].swap(false, Ordering::Acquire) {
                continue;
            }
            let waker = flag_waker(&READY[i]);
            stats.polls += 1;
            IN_CALL.store(true, Ordering::Relaxed);
            let poll = task.as_mut().poll(&mut Context::from_waker(&waker));
            IN_CALL.store(false, Ordering::Relaxed);
            if poll.is_ready() {
                done[i] = true;
            }
        }
        if done.iter().all(|&d| d) {
            return stats;
        }
        // Masked, so a wake between this check and WFI is not lost: a pending interrupt
        // still ends WFI, and runs once interrupts are on again.
        cortex_m::interrupt::disable();
        let ready = (0..TASKS).any(|i| !done[i] && READY[i].load(Ordering::Acquire));
        // Acquire: the handler's counters are complete once it says so.
        let isr_done = ISR_DONE.load(Ordering::Acquire);
        if !ready && isr_done {
            // No interrupt will come again: nothing can wake a task. A lost wakeup.
            // SAFETY: re-enabling interrupts we disabled above; no critical section is open.
            unsafe { cortex_m::interrupt::enable() };
            stats.stalled = true;
            return stats;
        }
        if !ready {
            stats.sleeps += 1;
            cortex_m::asm::wfi();
        }
        // SAFETY: as above.
        unsafe { cortex_m::interrupt::enable() };
    }
}

#[entry]
fn main() -> ! {
    hprintln!(
        "sluicebox interrupt-producer check ({}, lock: {}): {} SysTick interrupts, capacity {}",
        TARGET,
        if cfg!(feature = "isr-safe") {
            "critical section"
        } else {
            "spin lock"
        },
        TICKS,
        CAPACITY
    );
    let t = Tally::default();
    let anchor = QUEUE.sender();
    let stats = {
        let c0 = pin!(consumer(QUEUE.receiver(), true, &t));
        let c1 = pin!(consumer(QUEUE.receiver(), false, &t));
        let a = pin!(acquirer(&t));
        let ch = pin!(churn(QUEUE.receiver(), &t));
        let mut tasks: [Pin<&mut dyn Future<Output = ()>>; TASKS] = [c0, c1, a, ch];

        let mut cp = cortex_m::Peripherals::take().unwrap();
        cp.SYST.set_clock_source(SystClkSource::Core);
        cp.SYST.set_reload(RELOAD);
        cp.SYST.clear_current();
        cp.SYST.enable_counter();
        cp.SYST.enable_interrupt();
        run(&mut tasks)
    };
    drop(anchor);
    let chan = QUEUE.stats();

    let accepted = ACCEPTED.load(Ordering::Relaxed);
    let accepted_sum = ACCEPTED_SUM.load(Ordering::Relaxed);
    let rejected = REJECTED.load(Ordering::Relaxed);
    let evicted = EVICTED.load(Ordering::Relaxed);
    let evicted_sum = EVICTED_SUM.load(Ordering::Relaxed);
    let dropped = PERMITS_DROPPED.load(Ordering::Relaxed);
    let received = t.received.get();
    let received_sum = t.received_sum.get();
    let wakes = WAKES.load(Ordering::Relaxed);
    let wakes_in_handler = WAKES_IN_HANDLER.load(Ordering::Relaxed);
    let interrupted = INTERRUPTED_CALLS.load(Ordering::Relaxed);

    hprintln!(
        "handler: {} ticks; accepted {} (sum {}), rejected {} ({} force_send), evicted {} (sum {}), permits dropped {}, semaphore round trips {}",
        TICK.load(Ordering::Relaxed).min(TICKS),
        accepted,
        accepted_sum,
        rejected,
        FORCE_REFUSED.load(Ordering::Relaxed),
        evicted,
        evicted_sum,
        dropped,
        SEM_ROUND_TRIPS.load(Ordering::Relaxed)
    );
    hprintln!(
        "tasks: received {} (sum {}), recv pending {}, acquired {}, acquire pending {}, churn polls {}, slow stalls {}",
        received,
        received_sum,
        t.recv_pending.get(),
        t.acquired.get(),
        t.acquire_pending.get(),
        t.churn_polls.get(),
        t.slow_stalls.get()
    );
    hprintln!(
        "executor: {} polls, {} WFI sleeps, stalled {}; wakes {} ({} from the handler); ticks inside a thread-mode call {}",
        stats.polls,
        stats.sleeps,
        stats.stalled,
        wakes,
        wakes_in_handler,
        interrupted
    );
    hprintln!(
        "channel stats: sent {}, received {}, rejected {}, evicted {}, len {}, reserved {}, closed {}; semaphore: {} left, {} waiting",
        chan.sent,
        chan.received,
        chan.rejected,
        chan.evicted,
        chan.len,
        chan.reserved,
        chan.closed,
        PERMITS.available_permits(),
        PERMITS.waiting()
    );

    let checks: [(bool, &str); 13] = [
        (
            !stats.stalled,
            "no lost wakeup (no stall after the last tick)",
        ),
        (TICK.load(Ordering::Relaxed) >= TICKS, "every tick ran"),
        (
            accepted + rejected + dropped == TICKS,
            "each tick's item accepted, rejected or its permit dropped",
        ),
        (
            received + evicted == accepted,
            "exactly once by count: accepted = received + evicted",
        ),
        (
            received_sum + evicted_sum == accepted_sum,
            "exactly once by checksum",
        ),
        (chan.sent == u64::from(accepted), "stats.sent = accepted"),
        (
            chan.evicted == u64::from(evicted),
            "stats.evicted = evictions seen",
        ),
        (
            chan.rejected == u64::from(REJECTED_COUNTED.load(Ordering::Relaxed)),
            "stats.rejected = try_send and force_send refusals",
        ),
        (
            chan.len == 0 && chan.reserved == 0 && chan.closed,
            "channel drained, no room held, closed",
        ),
        (
            t.acquired.get() + PERMITS.available_permits() as u32 == TICKS
                && PERMITS.waiting() == 0,
            "semaphore: acquired + left = released",
        ),
        (
            rejected > 0 && evicted > 0,
            "the channel ran full: rejections and evictions",
        ),
        (
            wakes_in_handler > 0 && t.recv_pending.get() > 0 && t.acquire_pending.get() > 0,
            "tasks waited and the handler woke them",
        ),
        (
            interrupted > 0 && stats.sleeps > 0,
            "ticks landed inside thread-mode calls; the executor slept",
        ),
    ];
    let mut failed = 0;
    for (ok, what) in checks {
        if !ok {
            hprintln!("FAILED: {}", what);
            failed += 1;
        }
    }
    if failed == 0 {
        hprintln!(
            "ISR RESULT: OK ticks={} accepted={} received={} evicted={}",
            TICKS,
            accepted,
            received,
            evicted
        );
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("ISR RESULT: FAIL ({} checks failed)", failed);
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}
