//! sluicebox under embassy-executor on a bare Cortex-M3: no `std`, no `alloc`, no global
//! allocator.
//!
//! sluicebox's futures park with the waker they are given, so any executor drives them;
//! here it is embassy's thread-mode executor (WFE/SEV, task storage in `static`s), with
//! sluicebox's `critical-section` feature and `cortex-m`'s single-core critical section.
//!
//! One producer task sends `1..=1000` (in bursts of 100, with a pause before each)
//! through a `StaticChannel<u32, 4>`; three worker tasks
//! each take a permit of a 2-permit `Semaphore`, receive one item, "work" on it (one yield)
//! and drop the permit. When the producer's sender drops, the workers get `None`, report
//! on a second channel and end. The main task waits for that channel to close, checks
//! counts, sums, FIFO order, the channel's own stats, the permits, and that every kind of
//! wait (full channel, empty channel, no permit) happened, then exits through semihosting:
//! `EXIT_SUCCESS` only if every check holds.

#![no_std]
#![no_main]

use core::future::{poll_fn, Future};
use core::pin::pin;
use core::sync::atomic::{AtomicU32, Ordering};
use core::task::Poll;

use cortex_m_semihosting::{debug, hprintln};
use embassy_executor::Spawner;
use panic_semihosting as _;
use sluicebox::{
    Semaphore, StaticChannel, StaticReceiver, StaticSender, TryAcquireError, TryRecvError,
    TrySendError,
};

const ITEMS: u32 = 1000;
const EXPECTED_SUM: u32 = ITEMS * (ITEMS + 1) / 2;
const CAPACITY: usize = 4;
const PERMITS: usize = 2;
const WORKERS: usize = 3;
/// Every `BURST` items the producer pauses for `PAUSE` executor passes (a slow stretch of
/// production), long enough for the workers to drain the channel and wait on it empty.
/// Without the pauses embassy's run queue polls the producer before the workers each time
/// and the channel is never found empty.
const BURST: u32 = 100;
const PAUSE: u32 = 8;

static QUEUE: StaticChannel<u32, CAPACITY> = StaticChannel::new();
static IN_FLIGHT: Semaphore = Semaphore::new(PERMITS);
/// Each worker sends its id here when it is done; the channel closes when the last
/// worker drops its sender, which is how the main task knows they all finished.
static DONE: StaticChannel<u8, WORKERS> = StaticChannel::new();

/// For the synchronous `try_*` checks before the async scenario.
static SCRATCH: StaticChannel<u32, 2> = StaticChannel::new();
static SCRATCH_SEM: Semaphore = Semaphore::new(1);

// Tally. Relaxed everywhere: one core, one thread-mode executor; these are counters.
static SENT: AtomicU32 = AtomicU32::new(0);
static SENT_SUM: AtomicU32 = AtomicU32::new(0);
static RECEIVED: AtomicU32 = AtomicU32::new(0);
static RECEIVED_SUM: AtomicU32 = AtomicU32::new(0);
static LAST: AtomicU32 = AtomicU32::new(0);
static OUT_OF_ORDER: AtomicU32 = AtomicU32::new(0);
static PER_WORKER: [AtomicU32; WORKERS] = [const { AtomicU32::new(0) }; WORKERS];
static HOLDERS: AtomicU32 = AtomicU32::new(0);
static MAX_HOLDERS: AtomicU32 = AtomicU32::new(0);
static SEND_PENDING: AtomicU32 = AtomicU32::new(0);
static RECV_PENDING: AtomicU32 = AtomicU32::new(0);
static ACQUIRE_PENDING: AtomicU32 = AtomicU32::new(0);
static DONE_PENDING: AtomicU32 = AtomicU32::new(0);

fn bump(c: &AtomicU32, by: u32) {
    c.fetch_add(by, Ordering::Relaxed);
}

fn get(c: &AtomicU32) -> u32 {
    c.load(Ordering::Relaxed)
}

/// Awaits `fut`, counting how many times it returned `Pending`.
async fn counted<F: Future>(fut: F, pendings: &AtomicU32) -> F::Output {
    let mut fut = pin!(fut);
    poll_fn(|cx| {
        let poll = fut.as_mut().poll(cx);
        if poll.is_pending() {
            bump(pendings, 1);
        }
        poll
    })
    .await
}

/// Returns `Pending` once (waking itself first), then `Ready`.
fn yield_now() -> impl Future<Output = ()> {
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

#[embassy_executor::task]
async fn producer(tx: StaticSender<'static, u32, CAPACITY>) {
    for v in 1..=ITEMS {
        if v % BURST == 1 {
            for _ in 0..PAUSE {
                yield_now().await;
            }
        }
        if counted(tx.send(v), &SEND_PENDING).await.is_err() {
            return; // every receiver gone: the tally will show the shortfall
        }
        bump(&SENT, 1);
        bump(&SENT_SUM, v);
    }
    // `tx` is the only sender: dropping it closes the channel once it is drained, and the
    // waiting workers get `None`.
}

#[embassy_executor::task(pool_size = WORKERS)]
async fn worker(
    id: usize,
    rx: StaticReceiver<'static, u32, CAPACITY>,
    done: StaticSender<'static, u8, WORKERS>,
) {
    loop {
        let Ok(_permit) = counted(IN_FLIGHT.acquire(), &ACQUIRE_PENDING).await else {
            break;
        };
        let holders = HOLDERS.fetch_add(1, Ordering::Relaxed) + 1;
        MAX_HOLDERS.fetch_max(holders, Ordering::Relaxed);
        let item = counted(rx.recv(), &RECV_PENDING).await;
        if let Some(v) = item {
            // Receives complete one at a time on this single core, so FIFO means
            // strictly consecutive values across all workers.
            if v != get(&LAST) + 1 {
                bump(&OUT_OF_ORDER, 1);
            }
            LAST.store(v, Ordering::Relaxed);
            bump(&RECEIVED, 1);
            bump(&RECEIVED_SUM, v);
            bump(&PER_WORKER[id], 1);
            yield_now().await; // "work" while holding the permit
        }
        HOLDERS.fetch_sub(1, Ordering::Relaxed);
        if item.is_none() {
            break;
        }
    } // the permit is released here, handing it to a waiting worker
    drop(rx); // before `done`: the main task checks that every receiver is gone
              // DONE has a slot per worker, so this never waits; its result is checked through
              // the count the main task receives.
    let _ = done.try_send(id as u8);
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
    SCRATCH_SEM.add_permits(2);
    check(SCRATCH_SEM.available_permits() == 3, "add_permits");
    failures
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    hprintln!(
        "sluicebox on embassy-executor (thumbv7m-none-eabi): {} items, capacity {}, {} permits, {} workers",
        ITEMS,
        CAPACITY,
        PERMITS,
        WORKERS
    );
    let try_failures = check_try_api();

    let (done_tx, done_rx) = DONE.split();
    let mut spawn_failures = 0;
    // Workers first: they find the channel empty before the producer has run.
    for id in 0..WORKERS {
        match worker(id, QUEUE.receiver(), done_tx.clone()) {
            Ok(token) => spawner.spawn(token),
            Err(_) => spawn_failures += 1,
        }
    }
    match producer(QUEUE.sender()) {
        Ok(token) => spawner.spawn(token),
        Err(_) => spawn_failures += 1,
    }
    drop(done_tx);

    // Until every worker has dropped its DONE sender.
    let mut finished = 0u32;
    while counted(done_rx.recv(), &DONE_PENDING).await.is_some() {
        finished += 1;
    }

    let chan = QUEUE.stats();
    let per = [
        get(&PER_WORKER[0]),
        get(&PER_WORKER[1]),
        get(&PER_WORKER[2]),
    ];
    let (sent, sent_sum) = (get(&SENT), get(&SENT_SUM));
    let (received, received_sum) = (get(&RECEIVED), get(&RECEIVED_SUM));
    hprintln!("sent {} items, sum {}", sent, sent_sum);
    hprintln!(
        "received {} items, sum {}, out of order {}, per worker {:?}",
        received,
        received_sum,
        get(&OUT_OF_ORDER),
        per
    );
    hprintln!(
        "pending: send {}, recv {}, acquire {}, main waiting for workers {}; workers finished {}",
        get(&SEND_PENDING),
        get(&RECV_PENDING),
        get(&ACQUIRE_PENDING),
        get(&DONE_PENDING),
        finished
    );
    hprintln!(
        "channel stats: sent {}, received {}, len {}, closed {}, senders {}, receivers {}; permits: max held {}, free {}, waiting {}",
        chan.sent,
        chan.received,
        chan.len,
        chan.closed,
        chan.senders,
        chan.receivers,
        get(&MAX_HOLDERS),
        IN_FLIGHT.available_permits(),
        IN_FLIGHT.waiting()
    );

    let checks: [(bool, &str); 14] = [
        (try_failures == 0, "try_* API"),
        (spawn_failures == 0, "all tasks spawned"),
        (finished as usize == WORKERS, "every worker finished"),
        (sent == ITEMS && sent_sum == EXPECTED_SUM, "sent count/sum"),
        (
            received == ITEMS && received_sum == EXPECTED_SUM,
            "received count/sum (exactly once)",
        ),
        (get(&OUT_OF_ORDER) == 0 && get(&LAST) == ITEMS, "FIFO order"),
        (per.iter().all(|&n| n > 0), "every worker received"),
        (get(&SEND_PENDING) > 0, "send waited (channel full)"),
        (get(&RECV_PENDING) > 0, "recv waited (channel empty)"),
        (get(&ACQUIRE_PENDING) > 0, "acquire waited (no permit)"),
        (
            get(&MAX_HOLDERS) as usize == PERMITS,
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
        (
            chan.len == 0 && chan.closed && chan.senders == 0 && chan.receivers == 0,
            "channel drained, closed, handles dropped",
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
            "EMBASSY: OK sent={} received={} sum={}",
            chan.sent,
            chan.received,
            received_sum
        );
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        hprintln!("EMBASSY: FAIL ({} checks failed)", failed);
        debug::exit(debug::EXIT_FAILURE);
    }
}
