//! `interrupt-sim`: sluicebox called from an interrupt handler, simulated on a Linux host.
//!
//! # The model
//!
//! A single-core microcontroller runs one stream of code, *thread mode*, which an
//! interrupt can preempt between any two instructions; the handler then runs to completion
//! before thread mode continues, and it cannot wait for thread mode (thread mode does not
//! run again until the handler returns). Here:
//!
//! - **Thread mode** is the process's main thread. It awaits `recv` and `acquire`
//!   futures, polled by hand with a waker that sets a flag (some futures are cancelled:
//!   dropped while queued, or dropped after being woken), and sends with `force_send`
//!   bursts (evictions: the path of the bug this program found), `try_send` and send
//!   permits.
//! - **The interrupt** is SIGALRM from a periodic `ITIMER_REAL` timer. Every other
//!   thread (only the watchdog) masks SIGALRM, so the kernel always delivers it to the
//!   main thread, wherever that thread is, including inside a sluicebox operation. The
//!   kernel masks SIGALRM while the handler runs, so the handler never nests: one
//!   interrupt priority. The handler ([`on_interrupt`]) calls the operations the crate
//!   documents as safe in interrupt handlers, chosen at random: `try_send`, `force_send`,
//!   `try_reserve` + `Permit::send` or drop, `Semaphore::add_permits`, `try_acquire` +
//!   drop, `stats()`, `len()`; the sends and `add_permits` wake thread mode's futures.
//! - **The critical section** masks SIGALRM ([`irq`]), as cortex-m's
//!   `critical-section-single-core` disables interrupts: on one core, code the interrupt
//!   cannot preempt excludes everything else that could touch the data. With sluicebox's
//!   `critical-section` feature (this crate's default feature `isr-safe`) its wait-list
//!   locks are such sections, so the handler never finds one held. Without it
//!   (`--no-default-features`) they are spin locks, and the handler that interrupts thread
//!   mode holding one spins forever: the expected hang of the negative run.
//!
//! # What it checks
//!
//! A watchdog thread ([`watchdog`]) exits with code 2 when the handler has been inside
//! one run for 2 s (or the whole run overstays). At the end the timer is stopped, thread
//! mode drains the channel, and these must hold (else a FAIL line and exit code 1):
//!
//! - exactly once: every accepted item was received or evicted, by count and by checksum
//!   (values are unique), and the channel's own `stats()` agree (`sent`, `received`,
//!   `evicted`, `rejected`);
//! - nothing left behind: no items, no reserved room, no queued senders or receivers, no
//!   semaphore waiters; semaphore permits acquired + still free = permits added;
//! - no lost wakeup: a future left pending while what it waits for is there (an item, the
//!   permits) and no wake came for 200 ms counts as lost;
//! - every `stats()` snapshot taken in the handler was consistent
//!   (`sent - received == len`, `len + reserved <= capacity`);
//! - the handler ran, and woke both a receiver and an acquirer.
//!
//! # Usage
//!
//! `interrupt-sim [SECONDS [SEED]]`: run for SECONDS (default 3) with the xorshift seed
//! SEED (decimal or 0x-hex; default from the clock; printed either way, so a failing run
//! can be repeated, as far as the timer's interleaving allows). Prints
//! `INTERRUPT-SIM: OK ...` and exits 0, or `INTERRUPT-SIM: FAIL ...` and exits 1, or
//! `INTERRUPT-SIM: HANG ...` and exits 2; a bad argument exits 64.
//!
//! Builds: default (sluicebox without `std`, with `critical-section`: the bare-metal
//! protocol), `--features std` (std + critical-section, as on ESP-IDF), and
//! `--no-default-features` (the spin lock; must hang).

#[cfg(not(target_os = "linux"))]
compile_error!("interrupt-sim simulates interrupts with Linux signals: it builds on Linux only");

mod irq;
mod watchdog;

use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use sluicebox::{Semaphore, StaticChannel, StaticReceiver, StaticSender, TrySendError};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, Ordering::SeqCst};
use std::time::{Duration, Instant};
use watchdog::{HANDLED, HANDLER_OP, IN_HANDLER};

/// Small on purpose: the channel is full (evictions) or empty (waiting receiver) often.
const CAPACITY: usize = 3;
/// Timer period: the interrupt rate.
const TIMER_PERIOD_US: u32 = 25;
/// A future pending this long with its condition met and no wake counts as a lost wakeup.
const LOST_WAKEUP_AFTER: Duration = Duration::from_millis(200);

static CHANNEL: StaticChannel<u64, CAPACITY> = StaticChannel::new();
static SEMAPHORE: Semaphore = Semaphore::new(0);

/// Exactly-once bookkeeping, updated by both thread mode and the handler after each
/// operation. The `fetch_add`s are single instructions the handler cannot split (on an
/// MCU without atomic read-modify-write they would need a critical section).
static NEXT_VALUE: AtomicU64 = AtomicU64::new(1);
static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static ACCEPTED_SUM: AtomicU64 = AtomicU64::new(0);
static EVICTED: AtomicU64 = AtomicU64::new(0);
static EVICTED_SUM: AtomicU64 = AtomicU64::new(0);
static REJECTED: AtomicU64 = AtomicU64::new(0);
static PERMITS_ADDED: AtomicU64 = AtomicU64::new(0);
static BAD_SNAPSHOTS: AtomicU64 = AtomicU64::new(0);
/// The handler's xorshift state.
static HANDLER_RNG: AtomicU64 = AtomicU64::new(0);

/// One of thread mode's two tasks, as its waker sees it.
struct Task {
    woken: AtomicBool,
    /// Wakes that came from the handler.
    wakes_from_handler: AtomicU64,
}

static RECEIVER_TASK: Task = Task {
    woken: AtomicBool::new(false),
    wakes_from_handler: AtomicU64::new(0),
};
static ACQUIRER_TASK: Task = Task {
    woken: AtomicBool::new(false),
    wakes_from_handler: AtomicU64::new(0),
};

/// A waker for `task`: waking sets its flag (and counts wakes from the handler). Only
/// atomics, so it is async-signal-safe, and cloning or dropping it costs nothing.
fn waker(task: &'static Task) -> Waker {
    fn clone(data: *const ()) -> RawWaker {
        RawWaker::new(data, &VTABLE)
    }
    fn wake(data: *const ()) {
        // SAFETY: every `RawWaker` with this vtable is made from a `&'static Task` (in
        // `waker` and `clone`), so `data` points to a live `Task`.
        let task = unsafe { &*data.cast::<Task>() };
        if IN_HANDLER.load(SeqCst) {
            task.wakes_from_handler.fetch_add(1, SeqCst);
        }
        task.woken.store(true, SeqCst);
    }
    fn drop_waker(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake, drop_waker);
    let raw = RawWaker::new(core::ptr::from_ref(task).cast(), &VTABLE);
    // SAFETY: the vtable's functions honour the `RawWaker` contract for a `&'static Task`:
    // `clone` returns a waker for the same task, `wake`/`wake_by_ref` only touch its
    // atomics (fine from any thread or the handler), `drop` has nothing to free.
    unsafe { Waker::from_raw(raw) }
}

/// xorshift64: the program's only randomness, seeded from the command line or the clock.
fn xorshift(mut x: u64) -> u64 {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x
}

/// Thread mode's random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = xorshift(self.0);
        self.0
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn new_value() -> u64 {
    NEXT_VALUE.fetch_add(1, SeqCst)
}

fn accepted(v: u64) {
    ACCEPTED.fetch_add(1, SeqCst);
    ACCEPTED_SUM.fetch_add(v, SeqCst);
}

fn evicted(v: u64) {
    EVICTED.fetch_add(1, SeqCst);
    EVICTED_SUM.fetch_add(v, SeqCst);
}

/// `force_send(v)` with its bookkeeping (from either context).
fn force_send(tx: &StaticSender<'static, u64, CAPACITY>, v: u64) {
    match tx.force_send(v) {
        Ok(old) => {
            accepted(v);
            if let Some(old) = old {
                evicted(old);
            }
        }
        // Every slot is held by send permits: nothing to evict.
        Err(TrySendError::Full(_)) => {
            REJECTED.fetch_add(1, SeqCst);
        }
        Err(TrySendError::Closed(_)) => unreachable!("thread mode holds a receiver"),
    }
}

/// `try_send(v)` with its bookkeeping (from either context).
fn try_send(tx: &StaticSender<'static, u64, CAPACITY>, v: u64) {
    match tx.try_send(v) {
        Ok(()) => accepted(v),
        Err(TrySendError::Full(_)) => {
            REJECTED.fetch_add(1, SeqCst);
        }
        Err(TrySendError::Closed(_)) => unreachable!("thread mode holds a receiver"),
    }
}

/// The interrupt handler: one random non-blocking operation per run.
extern "C" fn on_interrupt(_signal: libc::c_int) {
    IN_HANDLER.store(true, SeqCst);
    // Relaxed: only the handler touches this state, and handler runs never overlap.
    let r = xorshift(HANDLER_RNG.load(Ordering::Relaxed));
    HANDLER_RNG.store(r, Ordering::Relaxed);
    let tx = CHANNEL.sender();
    let op = match r % 10 {
        0 | 1 => 0,
        2 => 1,
        3 => 2,
        4 => 3,
        5 | 6 => 4,
        7 => 5,
        8 => 6,
        _ => 7,
    };
    HANDLER_OP.store(op, SeqCst);
    match op {
        0 => try_send(&tx, new_value()),
        1 => force_send(&tx, new_value()),
        2 => {
            if let Ok(permit) = tx.try_reserve() {
                let v = new_value();
                permit.send(v);
                accepted(v);
            }
        }
        3 => drop(tx.try_reserve()),
        4 => {
            SEMAPHORE.add_permits(1);
            PERMITS_ADDED.fetch_add(1, SeqCst);
        }
        5 => drop(SEMAPHORE.try_acquire()),
        6 => {
            let s = tx.stats();
            core::hint::black_box(SEMAPHORE.available_permits());
            if s.sent.wrapping_sub(s.received) != s.len as u64 || s.len + s.reserved > s.capacity {
                BAD_SNAPSHOTS.fetch_add(1, SeqCst);
            }
        }
        _ => {
            core::hint::black_box((tx.len(), tx.is_full()));
        }
    }
    drop(tx);
    IN_HANDLER.store(false, SeqCst);
    HANDLED.fetch_add(1, SeqCst);
}

/// Thread mode's side of the bookkeeping.
#[derive(Default)]
struct ThreadMode {
    received: u64,
    received_sum: u64,
    acquired: u64,
    lost_wakeups: u64,
    first_lost_wakeup: Option<String>,
    cancelled: u64,
}

impl ThreadMode {
    fn received(&mut self, v: u64) {
        self.received += 1;
        self.received_sum = self.received_sum.wrapping_add(v);
    }

    fn lost_wakeup(&mut self, what: String) {
        self.lost_wakeups += 1;
        self.first_lost_wakeup.get_or_insert(what);
    }
}

/// What happened while waiting for a pending future's wake.
enum Waited {
    Woken,
    /// The run's time is up: stop waiting (the caller cancels the future).
    TimeUp,
}

/// Spins until `task` is woken. Every [`LOST_WAKEUP_AFTER`] without a wake, `ready()`
/// tells whether what the future waits for is there already: then the wake was lost
/// (recorded, and the caller polls again).
fn wait_for_wake(
    task: &Task,
    end: Instant,
    tm: &mut ThreadMode,
    ready: impl Fn() -> Option<String>,
) -> Waited {
    let mut since = Instant::now();
    loop {
        if task.woken.load(SeqCst) {
            return Waited::Woken;
        }
        if Instant::now() >= end {
            return Waited::TimeUp;
        }
        if since.elapsed() >= LOST_WAKEUP_AFTER {
            if let Some(what) = ready() {
                tm.lost_wakeup(what);
                return Waited::Woken;
            }
            since = Instant::now();
        }
        core::hint::spin_loop();
    }
}

/// Receives until the channel is empty, then waits for the handler's send to wake the
/// `recv` future; sometimes cancels it instead (queued, or after its wake).
fn receive_phase(
    rx: &StaticReceiver<'static, u64, CAPACITY>,
    rng: &mut Rng,
    end: Instant,
    tm: &mut ThreadMode,
) {
    let waker = waker(&RECEIVER_TASK);
    let mut cx = Context::from_waker(&waker);
    let wanted = 1 + rng.below(8);
    let mut got = 0;
    while got < wanted {
        let mut fut = pin!(rx.recv());
        loop {
            RECEIVER_TASK.woken.store(false, SeqCst);
            match fut.as_mut().poll(&mut cx) {
                Poll::Ready(Some(v)) => {
                    tm.received(v);
                    got += 1;
                    break;
                }
                Poll::Ready(None) => unreachable!("thread mode holds a sender"),
                Poll::Pending => {}
            }
            if rng.below(6) == 0 {
                tm.cancelled += 1;
                return; // cancelled while queued
            }
            let ready =
                || (!rx.is_empty()).then(|| format!("recv pending, not woken, len {}", rx.len()));
            match wait_for_wake(&RECEIVER_TASK, end, tm, ready) {
                Waited::TimeUp => return,
                Waited::Woken if rng.below(6) == 0 => {
                    tm.cancelled += 1;
                    return; // cancelled after its wake, before polling again
                }
                Waited::Woken => {}
            }
        }
    }
}

/// Acquires (and forgets) permits until none are free, then waits for the handler's
/// `add_permits` to wake the `acquire` future; sometimes cancels it instead.
fn acquire_phase(rng: &mut Rng, end: Instant, tm: &mut ThreadMode) {
    let waker = waker(&ACQUIRER_TASK);
    let mut cx = Context::from_waker(&waker);
    loop {
        let n = 1 + rng.below(3) as usize;
        let mut fut = pin!(SEMAPHORE.acquire_many(n));
        let mut waited = false;
        loop {
            ACQUIRER_TASK.woken.store(false, SeqCst);
            if let Poll::Ready(permit) = fut.as_mut().poll(&mut cx) {
                permit.expect("the semaphore is never closed").forget();
                tm.acquired += n as u64;
                break;
            }
            if rng.below(6) == 0 {
                tm.cancelled += 1;
                return;
            }
            let ready = || {
                let free = SEMAPHORE.available_permits();
                (free >= n).then(|| format!("acquire_many({n}) pending, not woken, {free} free"))
            };
            match wait_for_wake(&ACQUIRER_TASK, end, tm, ready) {
                Waited::TimeUp => return,
                Waited::Woken if rng.below(6) == 0 => {
                    tm.cancelled += 1;
                    return;
                }
                Waited::Woken => waited = true,
            }
        }
        if waited {
            return; // one wait per phase: the phase ends with a wake from the handler
        }
    }
}

/// Non-blocking operations from thread mode, in a burst.
fn send_phase(
    tx: &StaticSender<'static, u64, CAPACITY>,
    rx: &StaticReceiver<'static, u64, CAPACITY>,
    rng: &mut Rng,
    tm: &mut ThreadMode,
) {
    let op = rng.below(5);
    for _ in 0..1 + rng.below(32) {
        match op {
            // Evictions in a row: the handler's `len()`/`stats()` must not wait for a
            // swap it interrupted (the bug found on std + critical-section).
            0 | 1 => force_send(tx, new_value()),
            2 => try_send(tx, new_value()),
            3 => match tx.try_reserve() {
                Ok(permit) if rng.below(2) == 0 => {
                    let v = new_value();
                    permit.send(v);
                    accepted(v);
                }
                other => drop(other),
            },
            _ => {
                if let Ok(v) = rx.try_recv() {
                    tm.received(v);
                }
                core::hint::black_box(rx.stats());
            }
        }
    }
}

fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let secs = match args.first().map(|s| parse_u64(s)) {
        None => 3,
        Some(Some(s)) if (1..=3600).contains(&s) => s,
        Some(_) => return usage(),
    };
    let seed = match args.get(1).map(|s| parse_u64(s)) {
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64);
            nanos | 1 // xorshift's state must not be zero
        }
        Some(Some(s)) if s != 0 => s,
        Some(_) => return usage(),
    };
    if args.len() > 2 {
        return usage();
    }
    println!(
        "interrupt-sim: seed={seed:#x} seconds={secs} timer={TIMER_PERIOD_US}us capacity={CAPACITY} \
         sluicebox: critical-section={} std={}",
        if cfg!(feature = "isr-safe") { "yes" } else { "no (spin lock: expect a hang)" },
        if cfg!(feature = "std") { "yes" } else { "no" },
    );
    // Relaxed: the handler runs on this thread, after this store in program order.
    HANDLER_RNG.store(
        xorshift(seed ^ 0x9e37_79b9_7f4a_7c15) | 1,
        Ordering::Relaxed,
    );
    let mut rng = Rng(seed);

    let (tx, rx) = CHANNEL.split();
    // Mask SIGALRM before spawning the watchdog, which inherits the mask: the main
    // thread is then the only one that can take the interrupt.
    irq::mask();
    watchdog::start(Duration::from_secs(secs + 20), seed);
    irq::install(on_interrupt);
    irq::set_timer(Some(TIMER_PERIOD_US));
    irq::unmask();

    let start = Instant::now();
    let end = start + Duration::from_secs(secs);
    let mut tm = ThreadMode::default();
    while Instant::now() < end {
        match rng.below(6) {
            0 | 1 => receive_phase(&rx, &mut rng, end, &mut tm),
            2 => acquire_phase(&mut rng, end, &mut tm),
            _ => send_phase(&tx, &rx, &mut rng, &mut tm),
        }
    }

    // Stop the interrupt: after `mask` returns no handler runs again (it runs on this
    // thread), so everything below sees final values.
    irq::set_timer(None);
    irq::mask();
    watchdog::FINISHED.store(true, SeqCst);
    let elapsed = start.elapsed();

    // Drain: with the handler gone, thread mode must get every item still queued.
    while let Ok(v) = rx.try_recv() {
        tm.received(v);
    }
    report(&tm, &rx, secs, seed, elapsed)
}

fn usage() -> ExitCode {
    eprintln!(
        "usage: interrupt-sim [SECONDS (1..=3600, default 3) [SEED (non-zero, decimal or 0x-hex)]]"
    );
    ExitCode::from(64)
}

/// The final checks, and the result line.
fn report(
    tm: &ThreadMode,
    rx: &StaticReceiver<'static, u64, CAPACITY>,
    secs: u64,
    seed: u64,
    elapsed: Duration,
) -> ExitCode {
    let handled = HANDLED.load(SeqCst);
    let accepted = ACCEPTED.load(SeqCst);
    let accepted_sum = ACCEPTED_SUM.load(SeqCst);
    let evicted = EVICTED.load(SeqCst);
    let evicted_sum = EVICTED_SUM.load(SeqCst);
    let rejected = REJECTED.load(SeqCst);
    let added = PERMITS_ADDED.load(SeqCst);
    let free = SEMAPHORE.available_permits() as u64;
    let recv_wakes = RECEIVER_TASK.wakes_from_handler.load(SeqCst);
    let acquire_wakes = ACQUIRER_TASK.wakes_from_handler.load(SeqCst);
    let s = rx.stats();

    let mut failures: Vec<String> = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            failures.push(what);
        }
    };
    check(
        accepted == tm.received + evicted,
        format!(
            "count: accepted {accepted} != received {} + evicted {evicted}",
            tm.received
        ),
    );
    check(
        accepted_sum == tm.received_sum.wrapping_add(evicted_sum),
        format!(
            "checksum: accepted {accepted_sum} != received {} + evicted {evicted_sum}",
            tm.received_sum
        ),
    );
    check(
        s.sent == accepted,
        format!("stats().sent {} != accepted {accepted}", s.sent),
    );
    check(
        s.received == tm.received + evicted,
        format!(
            "stats().received {} != received + evicted {}",
            s.received,
            tm.received + evicted
        ),
    );
    check(
        s.evicted == evicted,
        format!("stats().evicted {} != evicted {evicted}", s.evicted),
    );
    check(
        s.rejected == rejected,
        format!("stats().rejected {} != rejected {rejected}", s.rejected),
    );
    check(
        s.len == 0 && s.reserved == 0,
        format!("left in the channel: len {} reserved {}", s.len, s.reserved),
    );
    check(
        s.receivers_waiting == 0 && s.senders_waiting == 0 && SEMAPHORE.waiting() == 0,
        format!(
            "still queued: receivers {} senders {} acquirers {}",
            s.receivers_waiting,
            s.senders_waiting,
            SEMAPHORE.waiting()
        ),
    );
    check(
        tm.acquired + free == added,
        format!(
            "semaphore: acquired {} + free {free} != added {added}",
            tm.acquired
        ),
    );
    check(
        tm.lost_wakeups == 0,
        format!(
            "{} lost wakeups, first: {}",
            tm.lost_wakeups,
            tm.first_lost_wakeup.as_deref().unwrap_or("-")
        ),
    );
    let bad = BAD_SNAPSHOTS.load(SeqCst);
    check(
        bad == 0,
        format!("{bad} inconsistent stats() snapshots in the handler"),
    );
    check(handled > 0, "the handler never ran".to_string());
    check(
        recv_wakes > 0 && acquire_wakes > 0,
        format!(
            "the handler woke receivers {recv_wakes} times and acquirers {acquire_wakes} times"
        ),
    );

    let summary = format!(
        "handled={handled} accepted={accepted} received={} evicted={evicted} rejected={rejected} \
         permits_added={added} acquired={} wakes_from_handler=recv:{recv_wakes},acquire:{acquire_wakes} \
         cancelled={} lost_wakeups={} seed={seed:#x} secs={secs} ({:.2?})",
        tm.received, tm.acquired, tm.cancelled, tm.lost_wakeups, elapsed
    );
    if failures.is_empty() {
        println!("INTERRUPT-SIM: OK {summary}");
        ExitCode::SUCCESS
    } else {
        println!("INTERRUPT-SIM: FAIL {}; {summary}", failures.join("; "));
        ExitCode::FAILURE
    }
}
