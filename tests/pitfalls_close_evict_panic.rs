//! PITFALLS `close-behind-permit`, `evict-then-full`, `user-code-under-lock` and
//! `drain-panic`: every receiver returns after a close behind a held permit; a drop-oldest
//! send never destroys what it evicts; user code (a waker's `clone`/`wake`, an item's
//! `Drop`) never runs under a lock, and when it panics no item and no permit is lost.
//!
//! Hand-polled with counting wakers where the order matters; threads where a race is the
//! point, with exactly-once accounting (every item is received, handed back, or dropped
//! by the channel's teardown — once).
#![cfg(feature = "std")]

use sluicebox::{bounded, Semaphore, StaticChannel, TryRecvError, TrySendError};
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::time::Duration;

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A waker that counts its wakes.
#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}

impl Count {
    fn new() -> (Arc<Self>, Waker) {
        let c = Arc::new(Self::default());
        (c.clone(), Waker::from(c))
    }
    fn get(&self) -> usize {
        self.0.load(SeqCst)
    }
}

fn poll<F: Future + ?Sized>(f: Pin<&mut F>, w: &Waker) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(w))
}

/// Runs `f` on its own thread and fails if it does not finish within `secs` (a deadlock
/// or a lost wakeup fails instead of hanging the suite).
fn within<R: Send + 'static>(secs: u64, what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let r = f();
        let _ = tx.send(());
        r
    });
    // Interpreted code is ~1000x slower: give miri room.
    let secs = if cfg!(miri) { secs * 200 } else { secs };
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: did not finish within {secs} s (deadlock or lost wakeup)")
        }
    }
}

/// Per-item accounting: each item is dropped exactly once, and a drop is either by the
/// test (after it `claim`ed the item: it was received or handed back) or silent (the
/// channel destroyed it). Silent drops are allowed only at teardown.
struct Ledger {
    drops: Vec<AtomicUsize>,
    silent: AtomicUsize,
    teardown: AtomicBool,
}

impl Ledger {
    fn new(n: usize) -> Arc<Self> {
        Arc::new(Self {
            drops: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            silent: AtomicUsize::new(0),
            teardown: AtomicBool::new(false),
        })
    }

    fn item(self: &Arc<Self>, id: usize) -> Item {
        Item {
            id,
            claimed: false,
            ledger: self.clone(),
        }
    }

    /// Every item made was dropped exactly once, and none silently before teardown.
    fn check(&self, what: &str) {
        let wrong: Vec<(usize, usize)> = self
            .drops
            .iter()
            .enumerate()
            .map(|(i, d)| (i, d.load(SeqCst)))
            .filter(|&(_, d)| d != 1)
            .collect();
        assert!(
            wrong.is_empty(),
            "{what}: items not dropped exactly once (id, drops): {wrong:?}"
        );
        assert_eq!(
            self.silent.load(SeqCst),
            0,
            "{what}: items destroyed by the channel while it was in use"
        );
    }
}

struct Item {
    id: usize,
    claimed: bool,
    ledger: Arc<Ledger>,
}

impl Item {
    /// The test has this item in hand: its drop is accounted for.
    fn claim(mut self) -> usize {
        self.claimed = true;
        self.id
    }
}

impl Drop for Item {
    fn drop(&mut self) {
        self.ledger.drops[self.id].fetch_add(1, SeqCst);
        if !self.claimed && !self.ledger.teardown.load(SeqCst) {
            self.ledger.silent.fetch_add(1, SeqCst);
        }
    }
}

// ---------------------------------------------------------------------------------------
// close-behind-permit
// ---------------------------------------------------------------------------------------

/// How the held permit ends.
#[derive(Clone, Copy, Debug)]
enum PermitEnd {
    Send,
    Drop,
}

/// Two receivers park on an empty channel while a permit is held (and a second one,
/// where `second`); `close()` wakes both and they park again (permits are out); then
/// the permit ends, and the second is dropped after it. Every receiver must return: the
/// permit's item if it was sent, and `None`.
fn close_behind_permit(end: PermitEnd, second: bool) {
    let (tx, rx) = bounded::<&'static str>(3);
    let permit = tx.try_reserve().unwrap();
    let second_permit = second.then(|| tx.try_reserve().unwrap());
    let (c1, w1) = Count::new();
    let (c2, w2) = Count::new();
    let mut r1 = pin!(rx.recv());
    let mut r2 = Box::pin(rx.recv());
    assert!(poll(r1.as_mut(), &w1).is_pending());
    assert!(poll(r2.as_mut(), &w2).is_pending());
    assert!(rx.close());
    assert_eq!((c1.get(), c2.get()), (1, 1), "close wakes both receivers");
    assert!(
        poll(r1.as_mut(), &w1).is_pending(),
        "still behind the permit"
    );
    assert!(
        poll(r2.as_mut(), &w2).is_pending(),
        "still behind the permit"
    );
    match end {
        PermitEnd::Send => permit.send("permit"),
        PermitEnd::Drop => drop(permit),
    }
    drop(second_permit);
    // Poll whoever is woken until both are done; a receiver left asleep fails.
    let mut out: [Option<Option<&str>>; 2] = [None, None];
    let mut seen = (1, 1);
    for _ in 0..4 {
        if out[0].is_none() && c1.get() > seen.0 {
            seen.0 = c1.get();
            if let Poll::Ready(v) = poll(r1.as_mut(), &w1) {
                out[0] = Some(v);
            }
        }
        if out[1].is_none() && c2.get() > seen.1 {
            seen.1 = c2.get();
            if let Poll::Ready(v) = poll(r2.as_mut(), &w2) {
                out[1] = Some(v);
            }
        }
    }
    let stats = rx.stats();
    assert!(
        out.iter().all(Option::is_some),
        "{end:?} (second permit: {second}): a receiver was left asleep: {out:?}, {stats:?}"
    );
    let mut got: Vec<&str> = out.iter().filter_map(|o| o.flatten()).collect();
    got.sort_unstable();
    let expected: &[&str] = match end {
        PermitEnd::Send => &["permit"],
        PermitEnd::Drop => &[],
    };
    assert_eq!(got, expected, "{end:?} (second permit: {second})");
    assert_eq!((stats.len, stats.receivers_waiting), (0, 0));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
}

#[test]
fn close_behind_permit_sent_two_parked_receivers_both_return() {
    close_behind_permit(PermitEnd::Send, false);
}

#[test]
fn close_behind_permit_dropped_two_parked_receivers_both_return() {
    close_behind_permit(PermitEnd::Drop, false);
}

#[test]
fn close_behind_permit_with_a_second_permit_out_every_receiver_returns() {
    close_behind_permit(PermitEnd::Send, true);
    close_behind_permit(PermitEnd::Drop, true);
}

/// The same with threads blocked in `recv_blocking`.
#[test]
#[cfg(not(miri))] // thread timing loops; the hand-polled tests above run under miri
fn close_behind_permit_blocking_receivers_all_return() {
    for end in [PermitEnd::Send, PermitEnd::Drop] {
        within(20, "close-behind-permit, blocking", move || {
            let (tx, rx) = bounded::<&'static str>(2);
            let permit = tx.try_reserve().unwrap();
            let threads: Vec<_> = (0..3)
                .map(|_| {
                    let rx = rx.clone();
                    std::thread::spawn(move || rx.recv_blocking().ok())
                })
                .collect();
            while rx.stats().receivers_waiting < 3 {
                std::thread::yield_now();
            }
            rx.close();
            // Let the woken receivers find the permit again and park.
            std::thread::sleep(Duration::from_millis(20));
            match end {
                PermitEnd::Send => permit.send("permit"),
                PermitEnd::Drop => drop(permit),
            }
            let got: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
            let items = got.iter().flatten().count();
            assert_eq!(
                items,
                usize::from(matches!(end, PermitEnd::Send)),
                "{got:?}"
            );
        });
    }
}

/// tokio, two workers, receivers looping on `recv` (the futures run inside
/// `tokio::spawn`, so they must be `Send`).
#[test]
#[cfg(not(miri))]
fn close_behind_permit_tokio_two_workers_every_task_ends() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, rx) = bounded::<u32>(2);
        let permit = tx.try_reserve().unwrap();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let rx = rx.clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    while rx.recv().await.is_some() {
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        while rx.stats().receivers_waiting < 4 {
            tokio::task::yield_now().await;
        }
        rx.close();
        tokio::time::sleep(Duration::from_millis(20)).await;
        permit.send(1);
        let mut total = 0;
        for t in tasks {
            total += tokio::time::timeout(Duration::from_secs(10), t)
                .await
                .expect("a receiver task never ended after close")
                .unwrap();
        }
        assert_eq!(total, 1);
    });
}

/// A static channel with no receiver made yet keeps its items through a close, also
/// when a permit is sent or dropped after the close: a later receiver gets them all.
#[test]
fn close_behind_permit_static_no_receiver_yet_keeps_items() {
    static SENT: StaticChannel<&'static str, 4> = StaticChannel::new();
    static DROPPED: StaticChannel<&'static str, 4> = StaticChannel::new();
    for (ch, end) in [(&SENT, PermitEnd::Send), (&DROPPED, PermitEnd::Drop)] {
        let tx = ch.sender();
        tx.try_send("a").unwrap();
        let permit = tx.try_reserve().unwrap();
        tx.try_send("b").unwrap();
        assert!(ch.close());
        match end {
            PermitEnd::Send => permit.send("p"),
            PermitEnd::Drop => drop(permit),
        }
        drop(tx);
        let rx = ch.receiver();
        let mut got = Vec::new();
        while let Ok(v) = rx.try_recv() {
            got.push(v);
        }
        let expected: &[&str] = match end {
            PermitEnd::Send => &["a", "b", "p"],
            PermitEnd::Drop => &["a", "b"],
        };
        assert_eq!(got, expected, "{end:?}");
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    }
}

/// Once the last receiver is gone, a permit sent later drops its value at once (PITFALLS
/// `permit-after-close`), on a static channel too.
#[test]
fn close_behind_permit_static_after_last_receiver_drops_at_once() {
    static CH: StaticChannel<Item, 2> = StaticChannel::new();
    let ledger = Ledger::new(2);
    let (tx, rx) = CH.split();
    tx.try_send(ledger.item(0)).unwrap();
    let permit = tx.try_reserve().unwrap();
    ledger.teardown.store(true, SeqCst); // drops by the channel are expected now
    drop(rx);
    assert_eq!(
        ledger.drops[0].load(SeqCst),
        1,
        "queued item dropped with the receiver"
    );
    permit.send(ledger.item(1));
    assert_eq!(
        ledger.drops[1].load(SeqCst),
        1,
        "sent into a channel nobody reads"
    );
    assert_eq!(CH.len(), 0);
    ledger.check("permit after the last receiver");
}

// ---------------------------------------------------------------------------------------
// evict-then-full
// ---------------------------------------------------------------------------------------

/// Racing `force_send`, `try_send`, `try_reserve` (held a moment, then sent or dropped)
/// and `try_recv` at capacity 2: no item is ever destroyed by the channel, and each is
/// dropped exactly once.
#[test]
fn evict_then_full_racing_force_send_never_destroys_an_item() {
    const PER: usize = if cfg!(miri) { 60 } else { 40_000 };
    let ledger = Ledger::new(3 * PER);
    within(60, "evict-then-full", move || {
        let (tx, rx) = bounded::<Item>(2);
        let barrier = Barrier::new(4);
        let (evicted, full) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                for id in 0..PER {
                    match tx.force_send(ledger.item(id)) {
                        Ok(Some(old)) => {
                            old.claim();
                            evicted.fetch_add(1, SeqCst);
                        }
                        Ok(None) => {}
                        Err(e) => {
                            if e.is_full() {
                                full.fetch_add(1, SeqCst);
                            }
                            e.into_inner().claim();
                        }
                    }
                }
            });
            s.spawn(|| {
                barrier.wait();
                for id in PER..2 * PER {
                    if let Err(e) = tx.try_send(ledger.item(id)) {
                        e.into_inner().claim();
                    }
                }
            });
            s.spawn(|| {
                barrier.wait();
                for id in 2 * PER..3 * PER {
                    match tx.try_reserve() {
                        Ok(permit) => {
                            std::hint::spin_loop();
                            if id % 3 == 0 {
                                drop(permit);
                                ledger.item(id).claim();
                            } else {
                                permit.send(ledger.item(id));
                            }
                        }
                        Err(_) => {
                            ledger.item(id).claim();
                        }
                    }
                }
            });
            s.spawn(|| {
                barrier.wait();
                for _ in 0..3 * PER {
                    if let Ok(item) = rx.try_recv() {
                        item.claim();
                    }
                }
            });
        });
        while let Ok(item) = rx.try_recv() {
            item.claim();
        }
        assert_eq!(
            rx.stats().evicted,
            evicted.load(SeqCst) as u64,
            "every eviction was handed back to the caller"
        );
        ledger.teardown.store(true, SeqCst);
        drop((tx, rx));
        ledger.check("racing force_send");
    });
}

/// `force_send` on a full channel racing `close()` from the receiver: either the swap
/// happened (the evicted item comes back, the new one stays receivable) or the send
/// fails with the value back and the old item stays receivable. Nothing is destroyed.
#[test]
fn evict_then_full_force_send_racing_close_loses_nothing() {
    const TRIALS: usize = if cfg!(miri) { 20 } else { 500 };
    within(60, "force_send vs close", || {
        for trial in 0..TRIALS {
            let ledger = Ledger::new(2);
            let (tx, rx) = bounded::<Item>(1);
            tx.try_send(ledger.item(0)).unwrap();
            // Both sides spin on one flag (a barrier's wake-up is far slower than the
            // race window), and the closer waits a varying few spins.
            let (ready, go) = (AtomicBool::new(false), AtomicBool::new(false));
            let outcome = std::thread::scope(|s| {
                let forcer = s.spawn(|| {
                    ready.store(true, SeqCst);
                    while !go.load(SeqCst) {
                        std::hint::spin_loop();
                    }
                    match tx.force_send(ledger.item(1)) {
                        Ok(Some(old)) => (Some(old.claim()), None),
                        Ok(None) => (None, None),
                        Err(e) => (None, Some((e.is_closed(), e.into_inner().claim()))),
                    }
                });
                while !ready.load(SeqCst) {
                    std::thread::yield_now();
                }
                go.store(true, SeqCst);
                for _ in 0..trial % 64 {
                    std::hint::spin_loop();
                }
                rx.close();
                forcer.join().unwrap()
            });
            let mut received = Vec::new();
            while let Ok(item) = rx.try_recv() {
                received.push(item.claim());
            }
            assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
            match outcome {
                (Some(0), None) => assert_eq!(received, [1], "trial {trial}: swapped"),
                (None, Some((true, 1))) => {
                    assert_eq!(received, [0], "trial {trial}: closed first")
                }
                other => panic!("trial {trial}: unexpected outcome {other:?}, got {received:?}"),
            }
            drop((tx, rx));
            ledger.check("force_send vs close");
        }
    });
}

/// Deterministic: a drop-oldest send at a channel whose room is held partly by a permit
/// evicts nothing and hands the value back as `Full` (a permit's room is not the oldest
/// item's to give); once the permit has sent, it swaps exactly one item.
#[test]
fn evict_then_full_force_send_behind_held_permit_evicts_nothing() {
    let ledger = Ledger::new(4);
    let (tx, rx) = bounded::<Item>(2);
    let permit = tx.try_reserve().unwrap();
    tx.try_send(ledger.item(0)).unwrap();
    match tx.force_send(ledger.item(1)) {
        Err(TrySendError::Full(v)) => assert_eq!(v.claim(), 1),
        other => panic!(
            "expected Full(item 1), got {:?}",
            other.map(|o| o.map(|i| i.id))
        ),
    }
    assert_eq!(rx.stats().evicted, 0);
    // The permit's item queues when it is sent: item 0 stays the oldest.
    permit.send(ledger.item(2));
    let old = tx.force_send(ledger.item(3)).unwrap().unwrap();
    assert_eq!(old.claim(), 0);
    assert_eq!(rx.try_recv().map(Item::claim).ok(), Some(2));
    assert_eq!(rx.try_recv().map(Item::claim).ok(), Some(3));
    assert_eq!(rx.stats().evicted, 1);
    drop((tx, rx));
    ledger.check("force_send behind a held permit");
}

// ---------------------------------------------------------------------------------------
// user-code-under-lock
// ---------------------------------------------------------------------------------------

/// A waker whose `clone` panics (a `RawWaker` vtable: `Wake` cannot make one).
fn clone_panics() -> Waker {
    unsafe fn clone(_: *const ()) -> RawWaker {
        panic!("test waker panics on clone")
    }
    unsafe fn noop(_: *const ()) {}
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    // SAFETY: the vtable's functions ignore the data pointer; none of them is unsound
    // (clone panics before making anything).
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

/// A waker whose `wake` panics.
struct WakePanics;

impl Wake for WakePanics {
    fn wake(self: Arc<Self>) {
        panic!("test waker panics on wake");
    }
}

/// A waker whose `clone` runs `f` first: user code that re-enters the channel. If it ran
/// under a wait-list lock, the re-entry would spin on that lock forever.
fn clone_runs(f: Arc<dyn Fn() + Send + Sync>) -> Waker {
    struct Hook(Arc<dyn Fn() + Send + Sync>);
    impl Wake for Hook {
        fn wake(self: Arc<Self>) {}
    }
    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is the `Arc<Hook>` leaked below, alive for the waker's life.
        let hook = unsafe { &*(data as *const Hook) };
        (hook.0)();
        // SAFETY: as above; one more count for the clone.
        unsafe { Arc::increment_strong_count(data as *const Hook) };
        RawWaker::new(data, &VTABLE)
    }
    unsafe fn wake(data: *const ()) {
        // SAFETY: consumes this waker's count.
        unsafe { drop_waker(data) }
    }
    unsafe fn noop(_: *const ()) {}
    unsafe fn drop_waker(data: *const ()) {
        // SAFETY: each waker owns one count of the `Arc<Hook>`.
        drop(unsafe { Arc::from_raw(data as *const Hook) });
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, noop, drop_waker);
    let data = Arc::into_raw(Arc::new(Hook(f))) as *const ();
    // SAFETY: the vtable upholds `RawWaker`'s contract: one `Arc` count per waker.
    unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
}

#[test]
fn user_code_under_lock_semaphore_waker_clone_panics_leaks_no_permit() {
    let sem = Semaphore::new(1);
    let mut acquire = pin!(sem.acquire_many(2));
    let panicky = clone_panics();
    let err = catch_unwind(AssertUnwindSafe(|| poll(acquire.as_mut(), &panicky)));
    assert!(err.is_err(), "the waker's panic reaches the caller");
    assert_eq!(
        (sem.available_permits(), sem.waiting()),
        (1, 0),
        "a waker clone that panics took no permit and queued nothing"
    );
    // The future is still usable with a good waker.
    let (c, w) = Count::new();
    assert!(poll(acquire.as_mut(), &w).is_pending());
    assert_eq!(
        sem.available_permits(),
        0,
        "one permit assigned to the queued waiter"
    );
    sem.add_permits(1);
    assert_eq!(c.get(), 1);
    match poll(acquire.as_mut(), &w) {
        Poll::Ready(Ok(p)) => assert_eq!(p.permits(), 2),
        other => panic!("expected two permits, got {other:?}"),
    }
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn user_code_under_lock_semaphore_new_waker_clone_panics_keeps_place() {
    let sem = Semaphore::new(0);
    let (c, w) = Count::new();
    let mut acquire = pin!(sem.acquire());
    assert!(poll(acquire.as_mut(), &w).is_pending());
    // A new waker whose clone panics: the waiter stays queued with its old waker.
    let err = catch_unwind(AssertUnwindSafe(|| poll(acquire.as_mut(), &clone_panics())));
    assert!(err.is_err());
    assert_eq!(sem.waiting(), 1);
    sem.add_permits(1);
    assert_eq!(
        (c.get(), sem.available_permits()),
        (1, 0),
        "granted to the waiter"
    );
    assert!(matches!(poll(acquire.as_mut(), &w), Poll::Ready(Ok(_))));
}

#[test]
fn user_code_under_lock_semaphore_waker_clone_reenters() {
    within(10, "semaphore waker clone re-enters", || {
        let sem = Arc::new(Semaphore::new(0));
        let (c1, w1) = Count::new();
        let mut first = Box::pin(sem.acquire());
        assert!(poll(first.as_mut(), &w1).is_pending());
        // The second waiter's waker adds a permit when cloned: it goes to the first.
        let s = sem.clone();
        let reenter = clone_runs(Arc::new(move || s.add_permits(1)));
        let mut second = Box::pin(sem.acquire());
        assert!(poll(second.as_mut(), &reenter).is_pending());
        assert_eq!(c1.get(), 1);
        let Poll::Ready(Ok(permit)) = poll(first.as_mut(), &w1) else {
            panic!("the first waiter was granted the permit the clone added")
        };
        assert_eq!(sem.waiting(), 1);
        drop(permit);
        assert_eq!(sem.waiting(), 0, "the permit goes on to the second waiter");
    });
}

#[test]
fn user_code_under_lock_recv_waker_clone_reenters_close() {
    within(10, "recv waker clone re-enters", || {
        let (tx, rx) = bounded::<&'static str>(1);
        // A receiver already parked, so the close below has a waiter to wake (it takes
        // the receive list's lock).
        let (parked, w) = Count::new();
        let mut first = Box::pin(rx.recv());
        assert!(poll(first.as_mut(), &w).is_pending());
        let t = tx.clone();
        let reenter = clone_runs(Arc::new(move || {
            t.close();
        }));
        let mut recv = Box::pin(rx.recv());
        // Registering clones the waker, which closes the channel: the retry after
        // registering sees the close.
        assert_eq!(poll(recv.as_mut(), &reenter), Poll::Ready(None));
        assert!(tx.is_closed());
        assert_eq!(parked.get(), 1);
        assert_eq!(poll(first.as_mut(), &w), Poll::Ready(None));
    });
}

#[test]
fn user_code_under_lock_send_waker_clone_reenters_recv() {
    within(10, "send waker clone re-enters", || {
        let (tx, rx) = bounded::<&'static str>(1);
        tx.try_send("first").unwrap();
        // A sender already parked, so the receive below has a waiter to wake (it takes
        // the send list's lock).
        let (parked, w) = Count::new();
        let mut waiting = Box::pin(tx.send("parked"));
        assert!(poll(waiting.as_mut(), &w).is_pending());
        let r = rx.clone();
        let taken = Arc::new(AtomicUsize::new(0));
        let t2 = taken.clone();
        let reenter = clone_runs(Arc::new(move || {
            if r.try_recv().is_ok() {
                t2.fetch_add(1, SeqCst);
            }
        }));
        let mut send = Box::pin(tx.send("second"));
        // The clone frees the slot while registering: the retry takes it.
        assert_eq!(poll(send.as_mut(), &reenter), Poll::Ready(Ok(())));
        assert_eq!((taken.load(SeqCst), parked.get()), (1, 1));
        assert_eq!(rx.try_recv(), Ok("second"));
        assert_eq!(poll(waiting.as_mut(), &w), Poll::Ready(Ok(())));
        assert_eq!(rx.try_recv(), Ok("parked"));
    });
}

/// A parked sender's waker panics when a receive wakes it: the receive still returns the
/// item it took, and the sender is notified (its next poll sends).
#[test]
fn user_code_under_lock_try_recv_with_panicking_sender_waker_keeps_item() {
    let ledger = Ledger::new(2);
    let (tx, rx) = bounded::<Item>(1);
    tx.try_send(ledger.item(0)).unwrap();
    let mut send = pin!(tx.send(ledger.item(1)));
    let panicky = Waker::from(Arc::new(WakePanics));
    assert!(poll(send.as_mut(), &panicky).is_pending());
    let got = catch_unwind(AssertUnwindSafe(|| rx.try_recv()));
    let item = got
        .expect("the sender's waker panic does not unwind through the receive")
        .expect("the item is returned");
    assert_eq!(item.claim(), 0);
    let (_, w) = Count::new();
    assert!(matches!(poll(send.as_mut(), &w), Poll::Ready(Ok(()))));
    assert_eq!(rx.try_recv().map(Item::claim).ok(), Some(1));
    ledger.check("panicking sender waker");
}

/// The same through `recv().await`.
#[test]
fn user_code_under_lock_recv_future_with_panicking_sender_waker_keeps_item() {
    let (tx, rx) = bounded::<Box<dyn FnOnce() -> u32 + Send>>(1);
    tx.try_send(Box::new(|| 7)).unwrap();
    let mut send = pin!(tx.send(Box::new(|| 8)));
    assert!(poll(send.as_mut(), &Waker::from(Arc::new(WakePanics))).is_pending());
    let (_, w) = Count::new();
    let mut recv = pin!(rx.recv());
    let got = catch_unwind(AssertUnwindSafe(|| poll(recv.as_mut(), &w)));
    match got {
        Ok(Poll::Ready(Some(job))) => assert_eq!(job(), 7),
        Ok(_) => panic!("expected the first job"),
        Err(_) => panic!("the sender's waker panic unwound through recv and lost the job"),
    }
    assert!(matches!(poll(send.as_mut(), &w), Poll::Ready(Ok(()))));
    assert_eq!(rx.try_recv().map(|job| job()).ok(), Some(8));
}

// ---------------------------------------------------------------------------------------
// drain-panic
// ---------------------------------------------------------------------------------------

/// An item whose `Drop` panics (once).
struct PanicsOnDrop(Arc<AtomicUsize>);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
        if self.0.load(SeqCst) == 1 {
            panic!("test item panics on drop");
        }
    }
}

#[test]
fn drain_panic_last_receiver_drop_still_drops_every_item() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = bounded::<PanicsOnDrop>(4);
    for _ in 0..4 {
        tx.try_send(PanicsOnDrop(drops.clone())).unwrap();
    }
    let err = catch_unwind(AssertUnwindSafe(|| drop(rx)));
    assert!(err.is_err(), "the item's panic reaches the caller");
    assert_eq!(
        (drops.load(SeqCst), tx.len()),
        (4, 0),
        "every queued item dropped at the last receiver's drop, the sender still alive"
    );
    assert!(tx
        .try_send(PanicsOnDrop(Arc::new(AtomicUsize::new(1))))
        .is_err());
}

#[test]
fn drain_panic_static_channel_last_receiver_drop() {
    static CH: StaticChannel<PanicsOnDrop, 3> = StaticChannel::new();
    let drops = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = CH.split();
    for _ in 0..3 {
        tx.try_send(PanicsOnDrop(drops.clone())).unwrap();
    }
    assert!(catch_unwind(AssertUnwindSafe(|| drop(rx))).is_err());
    assert_eq!((drops.load(SeqCst), CH.len()), (3, 0));
}

/// The last permit of a closed channel wakes every parked receiver; one of their wakers
/// panics. The panic reaches the permit's caller, but the item was queued first and the
/// other receiver is still woken (the wake-all finishes while unwinding): it gets the
/// item, and the one with the panicking waker then sees the end.
#[test]
fn user_code_under_lock_last_permit_wakes_past_a_panicking_waker() {
    let ledger = Ledger::new(1);
    let (tx, rx) = bounded::<Item>(2);
    let permit = tx.try_reserve().unwrap();
    let (c, good) = Count::new();
    let bad = Waker::from(Arc::new(WakePanics));
    let mut r1 = pin!(rx.recv());
    let mut r2 = pin!(rx.recv());
    assert!(poll(r2.as_mut(), &bad).is_pending());
    assert!(poll(r1.as_mut(), &good).is_pending());
    assert!(catch_unwind(AssertUnwindSafe(|| rx.close())).is_err());
    assert_eq!(c.get(), 1, "the close woke the good waker too");
    assert!(poll(r2.as_mut(), &bad).is_pending(), "a permit is out");
    assert!(poll(r1.as_mut(), &good).is_pending(), "a permit is out");
    let sent = catch_unwind(AssertUnwindSafe(|| permit.send(ledger.item(0))));
    assert!(
        sent.is_err(),
        "the waker's panic reaches the permit's caller"
    );
    assert_eq!(c.get(), 2, "the other receiver is still woken");
    match poll(r1.as_mut(), &good) {
        Poll::Ready(Some(item)) => assert_eq!(item.claim(), 0),
        other => panic!(
            "the item was queued before the wakes: {:?}",
            other.map(|o| o.is_some())
        ),
    }
    assert_eq!(
        poll(r2.as_mut(), &good).map(|o| o.is_none()),
        Poll::Ready(true)
    );
    ledger.check("last permit with a panicking receiver waker");
}

/// The last receiver's drop closes the channel and wakes a parked sender whose waker
/// panics: the queued items are still dropped at once, and the other parked sender is
/// still woken (to see the channel closed).
#[test]
fn drain_panic_last_receiver_drop_with_panicking_sender_waker() {
    let ledger = Ledger::new(3);
    let (tx, rx) = bounded::<Item>(1);
    tx.try_send(ledger.item(0)).unwrap();
    let mut bad = pin!(tx.send(ledger.item(1)));
    assert!(poll(bad.as_mut(), &Waker::from(Arc::new(WakePanics))).is_pending());
    let (c, w) = Count::new();
    let mut good = pin!(tx.send(ledger.item(2)));
    assert!(poll(good.as_mut(), &w).is_pending());
    ledger.teardown.store(true, SeqCst); // the last receiver's drain drops item 0
    assert!(catch_unwind(AssertUnwindSafe(|| drop(rx))).is_err());
    assert_eq!(
        ledger.drops[0].load(SeqCst),
        1,
        "queued item dropped at once"
    );
    assert_eq!(
        (tx.len(), c.get()),
        (0, 1),
        "drained, and the other sender woken"
    );
    match poll(good.as_mut(), &w) {
        Poll::Ready(Err(e)) => drop(e.0),
        _ => panic!("the woken sender sees the channel closed"),
    }
}
