//! sluicebox on a bare Cortex-M: no `std`, no `alloc`, no global allocator, no executor
//! crate.
//!
//! A static channel (capacity 4) and a static semaphore (2 permits) are driven by a
//! hand-rolled round-robin executor whose wakers are flags (`RawWakerVTable`, no heap).
//! One producer sends `1..=100`; three workers share the receiving side, and each must hold
//! a semaphore permit while it receives and "works" on an item. So every kind of wait
//! happens for real: the producer finds the channel full, workers find it empty, and the
//! third worker finds no permit.
//!
//! The executor polls a task only after its waker fired. If every live task is pending and
//! no waker fired, a wakeup was lost: that is reported as a stall and fails the run.
//!
//! Exits through semihosting: `EXIT_SUCCESS` only if counts, sums, order, the channel's own
//! stats and the semaphore all check out, and every wait path was taken at least once.

#![no_std]
#![no_main]

use core::cell::Cell;
use core::future::Future;
use core::hint::black_box;
use core::pin::{pin, Pin};
use core::task::{Context, Poll};
use portable_atomic::{AtomicBool, Ordering};

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use panic_semihosting as _;
use sluicebox::{
    Semaphore, StaticChannel, StaticReceiver, StaticSender, TryAcquireError, TryRecvError,
    TrySendError,
};
use sluicebox_baremetal::{bump, counted, flag_waker, yield_now, TARGET, WAKES};

const ITEMS: u32 = 100;
const EXPECTED_SUM: u32 = ITEMS * (ITEMS + 1) / 2;
const CAPACITY: usize = 4;
const PERMITS: usize = 2;
const WORKERS: usize = 3;
const TASKS: usize = 1 + WORKERS;
/// Far more rounds than the scenario needs (about 60): a livelock ends as a failure.
const MAX_ROUNDS: u32 = 10_000;

static QUEUE: StaticChannel<u32, CAPACITY> = StaticChannel::new();
static IN_FLIGHT: Semaphore = Semaphore::new(PERMITS);

/// For the synchronous `try_*` checks before the async scenario.
static SCRATCH: StaticChannel<u32, 2> = StaticChannel::new();
static SCRATCH_SEM: Semaphore = Semaphore::new(1);

// ---------------------------------------------------------------------------------------
// The executor: one ready flag per task; a task's waker sets its flag.

static READY: [AtomicBool; TASKS] = [const { AtomicBool::new(true) }; TASKS];

#[derive(Default)]
struct RunStats {
    rounds: u32,
    polls: u32,
    pendings: u32,
    /// The run ended with unfinished tasks: nothing was ready (a lost wakeup) or
    /// `MAX_ROUNDS` ran out.
    stalled: bool,
}

/// Polls each ready task in turn until all are done, a stall (lost wakeup) or `MAX_ROUNDS`.
fn run(tasks: &mut [Pin<&mut dyn Future<Output = ()>>; TASKS]) -> RunStats {
    let mut done = [false; TASKS];
    let mut stats = RunStats::default();
    while stats.rounds < MAX_ROUNDS {
        stats.rounds += 1;
        let mut polled = false;
        for (i, task) in tasks.iter_mut().enumerate() {
            // Acquire: pairs with the waker's Release store.
            if done[i] || !READY[i].swap(false, Ordering::Acquire) {
                continue;
            }
            polled = true;
            let waker = flag_waker(&READY[i]);
            let mut cx = Context::from_waker(&waker);
            stats.polls += 1;
            match task.as_mut().poll(&mut cx) {
                Poll::Ready(()) => done[i] = true,
                Poll::Pending => stats.pendings += 1,
            }
        }
        if done.iter().all(|&d| d) {
            return stats;
        }
        if !polled {
            // No interrupts here: nothing else can ever set a flag.
            stats.stalled = true;
            return stats;
        }
    }
    stats.stalled = true;
    stats
}

// ---------------------------------------------------------------------------------------
// The scenario.

#[derive(Default)]
struct Tally {
    sent: Cell<u32>,
    sent_sum: Cell<u32>,
    received: Cell<u32>,
    received_sum: Cell<u32>,
    last: Cell<u32>,
    out_of_order: Cell<u32>,
    per_worker: [Cell<u32>; WORKERS],
    holders: Cell<u32>,
    max_holders: Cell<u32>,
    send_pending: Cell<u32>,
    recv_pending: Cell<u32>,
    acquire_pending: Cell<u32>,
}

async fn producer(tx: StaticSender<'static, u32, CAPACITY>, t: &Tally) {
    for v in 1..=ITEMS {
        if counted(tx.send(v), &t.send_pending).await.is_err() {
            return; // every receiver gone: the tally will show the shortfall
        }
        bump(&t.sent, 1);
        bump(&t.sent_sum, v);
    }
    // `tx` is the only sender: dropping it closes the channel once it is drained, and the
    // waiting workers get `None`.
}

async fn worker(id: usize, rx: StaticReceiver<'static, u32, CAPACITY>, t: &Tally) {
    loop {
        let Ok(_permit) = counted(IN_FLIGHT.acquire(), &t.acquire_pending).await else {
            return;
        };
        bump(&t.holders, 1);
        t.max_holders.set(t.max_holders.get().max(t.holders.get()));
        let item = counted(rx.recv(), &t.recv_pending).await;
        if let Some(v) = item {
            // Receives complete one at a time on this single core, so FIFO means
            // strictly consecutive values across all workers.
            if v != t.last.get() + 1 {
                bump(&t.out_of_order, 1);
            }
            t.last.set(v);
            bump(&t.received, 1);
            bump(&t.received_sum, v);
            bump(&t.per_worker[id], 1);
            yield_now().await; // "work" while holding the permit
        }
        t.holders.set(t.holders.get() - 1);
        if item.is_none() {
            return;
        }
    } // the permit is released here, handing it to the waiting worker
}

/// The non-waiting API on a second static channel and semaphore. Returns failures.
fn check_try_api() -> u32 {
    let mut failures = 0;
    let mut check = |ok: bool, what: &str| {
        if !ok {
            hprintln!("try-api check failed: {}", what);
            failures += 1;
        }
    };
    let (tx, rx) = SCRATCH.split();
    check(tx.try_send(1).is_ok(), "try_send 1");
    check(tx.try_send(2).is_ok(), "try_send 2");
    check(
        matches!(tx.try_send(3), Err(TrySendError::Full(3))),
        "try_send full",
    );
    check(rx.try_recv() == Ok(1), "try_recv 1");
    check(rx.try_recv() == Ok(2), "try_recv 2");
    check(rx.try_recv() == Err(TryRecvError::Empty), "try_recv empty");
    let permit = SCRATCH_SEM.try_acquire();
    check(permit.is_ok(), "try_acquire");
    check(
        matches!(SCRATCH_SEM.try_acquire(), Err(TryAcquireError::NoPermits)),
        "try_acquire exhausted",
    );
    drop(permit);
    check(SCRATCH_SEM.available_permits() == 1, "permit returned");
    failures
}

#[entry]
fn main() -> ! {
    let target = TARGET;
    hprintln!(
        "sluicebox bare-metal check ({}): {} items, capacity {}, {} permits, {} workers",
        target,
        ITEMS,
        CAPACITY,
        PERMITS,
        WORKERS
    );

    let try_failures = check_try_api();

    let t = Tally::default();
    let stats = {
        let p = pin!(producer(QUEUE.sender(), &t));
        let w0 = pin!(worker(0, QUEUE.receiver(), &t));
        let w1 = pin!(worker(1, QUEUE.receiver(), &t));
        let w2 = pin!(worker(2, QUEUE.receiver(), &t));
        // Workers first: they find the channel empty before the producer has run.
        let mut tasks: [Pin<&mut dyn Future<Output = ()>>; TASKS] = [w0, w1, w2, p];
        run(&mut tasks)
    };
    let chan = QUEUE.stats();
    let wakes = WAKES.load(Ordering::Relaxed);

    // One float division, so the eabihf build really uses the FPU (which cortex-m-rt
    // enables at reset on that target).
    let mean_x2 = (black_box(t.received_sum.get() as f32) / black_box(ITEMS as f32)) * 2.0;

    let per = [
        t.per_worker[0].get(),
        t.per_worker[1].get(),
        t.per_worker[2].get(),
    ];
    hprintln!("sent {} items, sum {}", t.sent.get(), t.sent_sum.get());
    hprintln!(
        "received {} items, sum {}, out of order {}, per worker {:?}",
        t.received.get(),
        t.received_sum.get(),
        t.out_of_order.get(),
        per
    );
    hprintln!(
        "pending: send {}, recv {}, acquire {}; executor: {} rounds, {} polls, {} pending, {} wakes, stalled {}",
        t.send_pending.get(),
        t.recv_pending.get(),
        t.acquire_pending.get(),
        stats.rounds,
        stats.polls,
        stats.pendings,
        wakes,
        stats.stalled
    );
    hprintln!(
        "channel stats: sent {}, received {}, len {}, closed {}, senders {}, receivers {}; permits: max held {}, free {}, waiting {}",
        chan.sent,
        chan.received,
        chan.len,
        chan.closed,
        chan.senders,
        chan.receivers,
        t.max_holders.get(),
        IN_FLIGHT.available_permits(),
        IN_FLIGHT.waiting()
    );

    let checks: [(bool, &str); 16] = [
        (try_failures == 0, "try_* API"),
        (
            !stats.stalled,
            "executor finished without a stall (no lost wakeup)",
        ),
        (
            t.sent.get() == ITEMS && t.sent_sum.get() == EXPECTED_SUM,
            "sent count/sum",
        ),
        (
            t.received.get() == ITEMS && t.received_sum.get() == EXPECTED_SUM,
            "received count/sum",
        ),
        (
            t.out_of_order.get() == 0 && t.last.get() == ITEMS,
            "FIFO order",
        ),
        (per.iter().all(|&n| n > 0), "every worker received"),
        (t.send_pending.get() > 0, "send waited (channel full)"),
        (t.recv_pending.get() > 0, "recv waited (channel empty)"),
        (t.acquire_pending.get() > 0, "acquire waited (no permit)"),
        (
            stats.pendings > 0 && wakes > 0,
            "executor saw Pending and wakes",
        ),
        (
            t.max_holders.get() as usize == PERMITS,
            "permits bounded concurrency",
        ),
        (
            IN_FLIGHT.available_permits() == PERMITS && IN_FLIGHT.waiting() == 0,
            "permits returned",
        ),
        (
            chan.sent == u64::from(ITEMS) && chan.received == u64::from(ITEMS),
            "channel stats totals",
        ),
        (chan.len == 0 && chan.closed, "channel drained and closed"),
        (chan.senders == 0 && chan.receivers == 0, "handles dropped"),
        (mean_x2 == (ITEMS + 1) as f32, "float mean"),
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
            "RESULT: OK sent={} received={} sum={}",
            t.sent.get(),
            t.received.get(),
            t.received_sum.get()
        );
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("RESULT: FAIL ({} checks failed)", failed);
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}
