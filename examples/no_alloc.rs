//! No heap at all: a `StaticChannel` and a `Semaphore` live in `static`s, and three tasks
//! (one producer, two consumers) run on a hand-rolled executor: a poll loop over
//! stack-pinned futures whose wakers are built from a `RawWakerVTable` over `static` flags
//! (no `Box`, no `Arc`). The semaphore plays a pool of 3 buffers: the producer takes one
//! before it sends, a consumer gives it back after it is done, so at most 3 items are ever
//! out although the channel has 8 slots.
//!
//! A counting `#[global_allocator]` proves the run makes no heap allocation, and the
//! executor panics if it ever has nothing to poll before all tasks are done (a lost
//! wakeup). The same code works on `#![no_std]` targets; only the printing and the
//! counting allocator here need `std`.
//!
//! Run: `cargo run --release --example no_alloc`

use sluicebox::{Semaphore, StaticChannel};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

const ITEMS: u32 = 10_000;
const BUFFERS: usize = 3;

static QUEUE: StaticChannel<u32, 8> = StaticChannel::new();
static FREE_BUFFERS: Semaphore = Semaphore::new(BUFFERS);

// ---- A counting allocator --------------------------------------------------------------

/// Whether allocations are being counted.
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Heap allocations made while counting.
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments; counting only
// touches atomics, which never allocate.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

// ---- A hand-rolled executor ------------------------------------------------------------

const TASKS: usize = 3;
/// One "poll me" flag per task; a task's waker sets its flag. All start set.
static READY: [AtomicBool; TASKS] = [const { AtomicBool::new(true) }; TASKS];
/// Wakeups delivered, for the printout.
static WAKES: AtomicUsize = AtomicUsize::new(0);

/// The waker's data pointer is a `&'static AtomicBool` (an element of `READY`): cloning
/// copies the pointer, dropping does nothing, waking sets the flag.
static VTABLE: RawWakerVTable = RawWakerVTable::new(clone_waker, wake, wake, drop_waker);

unsafe fn clone_waker(data: *const ()) -> RawWaker {
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: every RawWaker with this vtable was made from a `&'static AtomicBool`.
    let flag = unsafe { &*data.cast::<AtomicBool>() };
    // Release: the poll that follows the flag sees what the waker's caller published.
    flag.store(true, Ordering::Release);
    WAKES.fetch_add(1, Ordering::Relaxed);
}

unsafe fn drop_waker(_: *const ()) {}

fn waker_for(flag: &'static AtomicBool) -> Waker {
    let raw = RawWaker::new((flag as *const AtomicBool).cast(), &VTABLE);
    // SAFETY: the data is a `&'static AtomicBool`, which is what every vtable function
    // expects; it lives forever and is `Sync`, so the waker may be sent and shared.
    unsafe { Waker::from_raw(raw) }
}

/// Polls each task whose flag is set until all are done; returns the number of polls.
/// Panics if no task is ready while some are not done: nothing else could ever wake them.
fn run(tasks: [Pin<&mut dyn Future<Output = ()>>; TASKS]) -> u32 {
    let mut tasks = tasks.map(Some);
    let mut polls = 0;
    loop {
        let mut polled_any = false;
        for (i, slot) in tasks.iter_mut().enumerate() {
            let Some(task) = slot else { continue };
            // Acquire: pairs with the Release in `wake`.
            if !READY[i].swap(false, Ordering::Acquire) {
                continue;
            }
            polled_any = true;
            polls += 1;
            let waker = waker_for(&READY[i]);
            if task
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                *slot = None;
            }
        }
        if tasks.iter().all(Option::is_none) {
            return polls;
        }
        assert!(polled_any, "tasks remain but none was woken: a lost wakeup");
    }
}

/// Gives the other tasks a turn: pending once, waking itself first.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await;
}

// ---- The program -----------------------------------------------------------------------

fn main() {
    let taken = [Cell::new(0u32), Cell::new(0u32)];
    let sums = [Cell::new(0u64), Cell::new(0u64)];
    let peak_len = Cell::new(0usize);

    COUNTING.store(true, Ordering::SeqCst);

    let (tx, rx) = QUEUE.split();
    let rx2 = rx.clone();
    let producer = pin!(async move {
        for i in 0..ITEMS {
            let buffer = FREE_BUFFERS.acquire().await.expect("never closed");
            tx.send(i).await.expect("consumers alive");
            buffer.forget(); // the consumer gives it back
        }
        // `tx` drops here: the channel closes once drained, and the consumers stop.
    });
    let consumer = |id: usize, rx: sluicebox::StaticReceiver<'static, u32, 8>| {
        let (taken, sums, peak_len) = (&taken, &sums, &peak_len);
        async move {
            while let Some(item) = rx.recv().await {
                peak_len.set(peak_len.get().max(QUEUE.len() + 1));
                taken[id].set(taken[id].get() + 1);
                sums[id].set(sums[id].get() + u64::from(item));
                FREE_BUFFERS.add_permits(1);
                yield_now().await;
            }
        }
    };
    let a = pin!(consumer(0, rx));
    let b = pin!(consumer(1, rx2));
    let polls = run([producer, a, b]);

    COUNTING.store(false, Ordering::SeqCst);
    let allocations = ALLOCATIONS.load(Ordering::SeqCst);

    let s = QUEUE.stats();
    let consumed = taken[0].get() + taken[1].get();
    let sum = sums[0].get() + sums[1].get();
    println!(
        "produced {ITEMS}, consumed {consumed} (consumer A {}, consumer B {}), dropped 0",
        taken[0].get(),
        taken[1].get()
    );
    println!(
        "peak items out {} (queued + being handled) with {BUFFERS} buffers and {} slots; \
         sent {} received {} closed {}",
        peak_len.get(),
        s.capacity,
        s.sent,
        s.received,
        s.closed
    );
    println!(
        "{polls} polls, {} wakeups, {allocations} heap allocations",
        WAKES.load(Ordering::Relaxed)
    );

    // The claims.
    assert_eq!(allocations, 0, "the run allocated");
    assert_eq!(consumed, ITEMS, "every item received");
    assert_eq!(sum, (0..u64::from(ITEMS)).sum::<u64>(), "checksum");
    assert!(
        taken[0].get() > 0 && taken[1].get() > 0,
        "both consumers worked"
    );
    assert!(peak_len.get() <= BUFFERS, "more items out than buffers");
    assert_eq!((s.sent, s.received), (u64::from(ITEMS), u64::from(ITEMS)));
    assert!(s.closed && s.len == 0 && s.senders == 0);
    assert_eq!(
        FREE_BUFFERS.available_permits(),
        BUFFERS,
        "every buffer returned"
    );
    println!("ok: static channel + semaphore on a hand-rolled executor, zero allocations");
}
