//! Deterministic semaphore tests: every future is polled by hand with its own counting
//! waker, so each test asserts exactly who was woken, how often, and where every permit is.
//!
//! No executor: futures are polled step by step, so a test fails rather than hangs. The
//! few that could still hang (a second thread, a blocking call, the semaphore's spin lock
//! after a panic) run under a [`Watchdog`] that aborts after 10 s (100 times that under
//! miri).
//!
//! Tests named after a PITFALLS tag: `permit_accounting_*` (`permit-accounting`),
//! `register_race_*` (`register-race`: a release lands, from another thread, exactly while
//! the acquirer is queueing), `panic_drop_*` (`panic-drop`: a waker that panics).
// Uses heap channels and the blocking API.
#![cfg(feature = "std")]

use std::future::Future;
use std::io::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};
use std::thread;
use std::time::Duration;

use sluicebox::{AcquireError, Semaphore, SemaphorePermit, TryAcquireError};

const MAX: usize = Semaphore::MAX_PERMITS;

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

/// A waker that counts its wakes.
#[derive(Default)]
struct WakeCounter(AtomicUsize);

impl Wake for WakeCounter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A future polled by hand, with its own counting waker.
struct Task<F: Future> {
    fut: Pin<Box<F>>,
    counter: Arc<WakeCounter>,
    waker: Waker,
}

impl<F: Future> Task<F> {
    fn new(fut: F) -> Self {
        let counter = Arc::new(WakeCounter::default());
        let waker = Waker::from(counter.clone());
        Self {
            fut: Box::pin(fut),
            counter,
            waker,
        }
    }

    fn poll(&mut self) -> Poll<F::Output> {
        let mut cx = Context::from_waker(&self.waker);
        self.fut.as_mut().poll(&mut cx)
    }

    /// Polls with a different waker (to check that the newest waker is the one woken).
    fn poll_with(&mut self, waker: &Waker) -> Poll<F::Output> {
        let mut cx = Context::from_waker(waker);
        self.fut.as_mut().poll(&mut cx)
    }

    fn wakes(&self) -> usize {
        self.counter.0.load(Ordering::SeqCst)
    }

    #[track_caller]
    fn pending(&mut self) {
        assert!(self.poll().is_pending(), "expected Pending");
    }
}

impl<T, E: std::fmt::Debug, F: Future<Output = Result<T, E>>> Task<F> {
    #[track_caller]
    fn ready_ok(&mut self) -> T {
        match self.poll() {
            Poll::Ready(Ok(t)) => t,
            Poll::Ready(Err(e)) => panic!("expected Ready(Ok), got Ready(Err({e:?}))"),
            Poll::Pending => panic!("expected Ready(Ok), got Pending"),
        }
    }

    #[track_caller]
    fn ready_err(&mut self) -> E {
        match self.poll() {
            Poll::Ready(Err(e)) => e,
            Poll::Ready(Ok(_)) => panic!("expected Ready(Err), got Ready(Ok)"),
            Poll::Pending => panic!("expected Ready(Err), got Pending"),
        }
    }
}

/// Wake counts of several tasks, for one `assert_eq!`.
fn wakes<F: Future>(tasks: &[&Task<F>]) -> Vec<usize> {
    tasks.iter().map(|t| t.wakes()).collect()
}

/// Splits a permit into single-permit guards, to release one at a time.
fn singles(mut permit: SemaphorePermit<'_>) -> Vec<SemaphorePermit<'_>> {
    let mut out = Vec::new();
    while permit.permits() > 1 {
        out.push(permit.split(1).expect("permit holds more than one"));
    }
    out.push(permit);
    out
}

/// Aborts the test binary if a test runs past `secs` (a stuck spin lock would otherwise
/// hang the suite; a panic on a side thread could not stop it). Under miri, which runs
/// these tests 100-1000x slower than native code (and slower still with tree borrows),
/// the limit is 100 times longer: it only has to catch a hang.
struct Watchdog(Option<mpsc::Sender<()>>, Option<thread::JoinHandle<()>>);

fn watchdog(name: &'static str, secs: u64) -> Watchdog {
    let secs = if cfg!(miri) { secs * 100 } else { secs };
    let (tx, rx) = mpsc::channel::<()>();
    let handle = thread::spawn(move || {
        if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(Duration::from_secs(secs)) {
            // Straight to stderr: `eprintln!` is captured by the test harness and
            // would be lost with the abort.
            let _ = writeln!(
                std::io::stderr(),
                "watchdog: `{name}` still running after {secs} s (deadlock?); aborting"
            );
            std::process::abort();
        }
    });
    Watchdog(Some(tx), Some(handle))
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.0.take());
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// FIFO and fairness
// ---------------------------------------------------------------------------------------

#[test]
fn fifo_grants_in_queue_order_and_wakes_only_the_granted() {
    let sem = Semaphore::new(1);
    let hold = sem.try_acquire().unwrap();
    let mut a = Task::new(sem.acquire());
    let mut b = Task::new(sem.acquire());
    let mut c = Task::new(sem.acquire());
    let mut d = Task::new(sem.acquire());
    for t in [&mut a, &mut b, &mut c, &mut d] {
        t.pending();
    }
    assert_eq!(sem.waiting(), 4);
    assert_eq!(wakes(&[&a, &b, &c, &d]), [0, 0, 0, 0]);

    drop(hold);
    assert_eq!(wakes(&[&a, &b, &c, &d]), [1, 0, 0, 0]);
    assert_eq!(
        sem.available_permits(),
        0,
        "the permit went to `a`, not the counter"
    );
    assert_eq!(sem.waiting(), 3);
    // Re-polling those behind does not let them barge, nor wake anyone.
    b.pending();
    d.pending();
    assert_eq!(wakes(&[&a, &b, &c, &d]), [1, 0, 0, 0]);

    let pa = a.ready_ok();
    assert_eq!(pa.permits(), 1);
    drop(pa);
    assert_eq!(wakes(&[&a, &b, &c, &d]), [1, 1, 0, 0]);

    let pb = b.ready_ok();
    drop(pb);
    assert_eq!(wakes(&[&a, &b, &c, &d]), [1, 1, 1, 0]);

    let pc = c.ready_ok();
    drop(pc);
    assert_eq!(wakes(&[&a, &b, &c, &d]), [1, 1, 1, 1]);

    let pd = d.ready_ok();
    assert_eq!(sem.waiting(), 0);
    assert_eq!(sem.available_permits(), 0);
    drop(pd);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(wakes(&[&a, &b, &c, &d]), [1, 1, 1, 1], "no spurious wakes");
    drop((a, b, c, d));
    assert_eq!(
        sem.available_permits(),
        1,
        "dropping completed futures gives back nothing more"
    );
}

#[test]
fn fifo_wakes_the_waker_of_the_latest_poll() {
    let sem = Semaphore::new(1);
    let hold = sem.try_acquire().unwrap();
    let mut a = Task::new(sem.acquire());
    a.pending();
    let second = Arc::new(WakeCounter::default());
    assert!(a.poll_with(&Waker::from(second.clone())).is_pending());
    drop(hold);
    assert_eq!(a.wakes(), 0, "the replaced waker must not be woken");
    assert_eq!(second.0.load(Ordering::SeqCst), 1);
    assert_eq!(a.ready_ok().permits(), 1);
}

#[test]
fn fifo_big_acquire_many_ahead_of_small_ones_is_served_first() {
    let sem = Semaphore::new(5);
    let hold = sem.try_acquire_many(5).unwrap();
    let mut big = Task::new(sem.acquire_many(5));
    let mut s1 = Task::new(sem.acquire());
    let mut s2 = Task::new(sem.acquire());
    big.pending();
    s1.pending();
    s2.pending();
    assert_eq!(sem.waiting(), 3);

    let mut ones = singles(hold);
    for released in 1..=4 {
        drop(ones.pop());
        // The released permit is assigned to `big`: not free, and the small ones behind
        // it stay pending although one permit would do for them.
        assert_eq!(sem.available_permits(), 0, "after {released} released");
        assert_eq!(wakes(&[&big, &s1, &s2]), [0, 0, 0], "after {released}");
        s1.pending();
        s2.pending();
        assert_eq!(
            sem.try_acquire().unwrap_err(),
            TryAcquireError::NoPermits,
            "try_acquire must not barge past the queued `big`"
        );
    }
    drop(ones.pop());
    assert!(ones.is_empty());
    assert_eq!(wakes(&[&big, &s1, &s2]), [1, 0, 0]);
    assert_eq!(sem.waiting(), 2);

    let p = big.ready_ok();
    assert_eq!(p.permits(), 5);
    assert_eq!(sem.available_permits(), 0);
    drop(p);
    assert_eq!(wakes(&[&big, &s1, &s2]), [1, 1, 1]);
    assert_eq!(
        sem.available_permits(),
        3,
        "5 released, 1 each to s1 and s2"
    );
    assert_eq!(sem.waiting(), 0);
    let (p1, p2) = (s1.ready_ok(), s2.ready_ok());
    drop((p1, p2));
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn fifo_big_acquire_many_behind_small_ones_waits_its_turn() {
    let sem = Semaphore::new(2);
    let hold = sem.try_acquire_many(2).unwrap();
    let mut s1 = Task::new(sem.acquire());
    let mut s2 = Task::new(sem.acquire());
    let mut big = Task::new(sem.acquire_many(2));
    let mut s3 = Task::new(sem.acquire());
    for t in [&mut s1, &mut s2, &mut big, &mut s3] {
        t.pending();
    }
    let mut ones = singles(hold);

    drop(ones.pop());
    assert_eq!(wakes(&[&s1, &s2, &big, &s3]), [1, 0, 0, 0]);
    drop(ones.pop());
    assert_eq!(wakes(&[&s1, &s2, &big, &s3]), [1, 1, 0, 0]);
    let p1 = s1.ready_ok();
    let p2 = s2.ready_ok();

    drop(p1);
    // One of two assigned to `big`; `s3` behind it waits although a permit was released.
    assert_eq!(wakes(&[&s1, &s2, &big, &s3]), [1, 1, 0, 0]);
    assert_eq!(sem.available_permits(), 0);
    big.pending();
    s3.pending();

    drop(p2);
    assert_eq!(wakes(&[&s1, &s2, &big, &s3]), [1, 1, 1, 0]);
    let pb = big.ready_ok();
    assert_eq!(pb.permits(), 2);
    s3.pending();

    drop(pb);
    assert_eq!(wakes(&[&s1, &s2, &big, &s3]), [1, 1, 1, 1]);
    assert_eq!(sem.available_permits(), 1);
    drop(s3.ready_ok());
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn new_acquire_queues_behind_a_waiter_instead_of_taking_released_permits() {
    let sem = Semaphore::new(3);
    let hold = sem.try_acquire_many(3).unwrap();
    let mut big = Task::new(sem.acquire_many(3));
    big.pending();
    let mut ones = singles(hold);
    drop(ones.pop());
    // A newcomer arrives after one permit was released (and assigned to `big`).
    let mut late = Task::new(sem.acquire());
    late.pending();
    assert_eq!(sem.waiting(), 2);
    drop(ones.pop());
    drop(ones.pop());
    assert_eq!(wakes(&[&big, &late]), [1, 0]);
    let pb = big.ready_ok();
    late.pending();
    drop(pb);
    assert_eq!(wakes(&[&big, &late]), [1, 1]);
    assert_eq!(late.ready_ok().permits(), 1);
}

#[test]
fn try_acquire_fails_while_a_waiter_holds_a_partial_assignment() {
    // Partial assignment from released permits.
    let sem = Semaphore::new(3);
    let hold = sem.try_acquire_many(3).unwrap();
    let mut w = Task::new(sem.acquire_many(2));
    w.pending();
    let mut ones = singles(hold);
    drop(ones.pop());
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    assert_eq!(
        sem.try_acquire_many(1).unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_eq!(w.wakes(), 0);
    drop(ones.pop());
    assert_eq!(w.wakes(), 1);
    assert_eq!(w.ready_ok().permits(), 2);

    // Partial assignment taken from the free count when queueing.
    let sem = Semaphore::new(2);
    let mut w = Task::new(sem.acquire_many(3));
    w.pending();
    assert_eq!(
        sem.available_permits(),
        0,
        "the 2 free permits were assigned to the queued acquire_many(3)"
    );
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    let arc = Arc::new(Semaphore::new(0));
    let mut w2 = Task::new(arc.acquire_many(2));
    w2.pending();
    arc.add_permits(1);
    assert_eq!(
        arc.clone().try_acquire_owned().unwrap_err(),
        TryAcquireError::NoPermits
    );
    sem.add_permits(1);
    assert_eq!(w.wakes(), 1);
    assert_eq!(w.ready_ok().permits(), 3);
    arc.add_permits(1);
    assert_eq!(w2.ready_ok().permits(), 2);
}

// ---------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------

#[test]
fn cancel_partially_granted_acquire_many_returns_permits_and_wakes_next() {
    let sem = Semaphore::new(4);
    let hold = sem.try_acquire_many(4).unwrap();
    let mut big = Task::new(sem.acquire_many(3));
    let mut next = Task::new(sem.acquire());
    let mut last = Task::new(sem.acquire_many(2));
    big.pending();
    next.pending();
    last.pending();

    let mut hold = hold;
    drop(hold.split(2).unwrap()); // 2 of 3 assigned to `big`
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(wakes(&[&big, &next, &last]), [0, 0, 0]);

    drop(big); // gives back its 2: one to `next`, one towards `last`
    assert_eq!(wakes(&[&next, &last]), [1, 0]);
    assert_eq!(
        sem.available_permits(),
        0,
        "1 to `next`, 1 assigned to `last`"
    );
    assert_eq!(sem.waiting(), 1);

    let pn = next.ready_ok();
    drop(pn); // completes `last`
    assert_eq!(wakes(&[&next, &last]), [1, 1]);
    let pl = last.ready_ok();
    assert_eq!(pl.permits(), 2);
    assert_eq!(sem.waiting(), 0);
    drop(hold);
    assert_eq!(sem.available_permits(), 2);
    drop(pl);
    assert_eq!(sem.available_permits(), 4);
}

#[test]
fn cancel_partially_granted_acquire_many_with_nobody_behind_frees_its_permits() {
    let sem = Semaphore::new(2);
    let mut w = Task::new(sem.acquire_many(5));
    w.pending(); // took the 2 free permits
    assert_eq!(sem.available_permits(), 0);
    sem.add_permits(2);
    assert_eq!(sem.available_permits(), 0, "assigned, wanted 5");
    drop(w);
    assert_eq!(sem.available_permits(), 4);
    assert_eq!(sem.waiting(), 0);
}

#[test]
fn cancel_waiter_in_the_middle_keeps_fifo() {
    let sem = Semaphore::new(1);
    let hold = sem.try_acquire().unwrap();
    let mut a = Task::new(sem.acquire());
    let mut b = Task::new(sem.acquire());
    let mut c = Task::new(sem.acquire());
    a.pending();
    b.pending();
    c.pending();
    drop(b);
    assert_eq!(sem.waiting(), 2);
    assert_eq!(sem.available_permits(), 0);
    drop(hold);
    assert_eq!(wakes(&[&a, &c]), [1, 0]);
    drop(a.ready_ok());
    assert_eq!(wakes(&[&a, &c]), [1, 1]);
    drop(c.ready_ok());
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn granted_but_unpolled_acquire_dropped_passes_its_permits_on() {
    let sem = Semaphore::new(1);
    let hold = sem.try_acquire().unwrap();
    let a = {
        let mut a = Task::new(sem.acquire());
        a.pending();
        a
    };
    let mut b = Task::new(sem.acquire());
    let mut c = Task::new(sem.acquire());
    b.pending();
    c.pending();

    drop(hold);
    assert_eq!(wakes(&[&a, &b, &c]), [1, 0, 0]);
    drop(a); // woken and granted, never polled
    assert_eq!(wakes(&[&b, &c]), [1, 0], "the grant passes to `b`");
    assert_eq!(sem.available_permits(), 0);
    drop(b); // also granted and unpolled
    assert_eq!(c.wakes(), 1);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(c.ready_ok().permits(), 1);
    assert_eq!(sem.waiting(), 0);
}

#[test]
fn granted_but_unpolled_acquire_many_dropped_splits_its_permits_among_the_next() {
    let sem = Semaphore::new(3);
    let hold = sem.try_acquire_many(3).unwrap();
    let mut big = Task::new(sem.acquire_many(3));
    let mut s1 = Task::new(sem.acquire());
    let mut s2 = Task::new(sem.acquire());
    big.pending();
    s1.pending();
    s2.pending();
    drop(hold);
    assert_eq!(wakes(&[&big, &s1, &s2]), [1, 0, 0]);
    drop(big);
    assert_eq!(wakes(&[&s1, &s2]), [1, 1]);
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiting(), 0);
    let (p1, p2) = (s1.ready_ok(), s2.ready_ok());
    drop((p1, p2));
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn unpolled_acquire_dropped_changes_nothing() {
    let sem = Semaphore::new(0);
    drop(sem.acquire_many(3));
    assert_eq!((sem.available_permits(), sem.waiting()), (0, 0));
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn owned_acquire_cancelled_mid_wait_returns_partial_permits() {
    let sem = Arc::new(Semaphore::new(1));
    let mut w = Task::new(sem.clone().acquire_many_owned(3));
    w.pending();
    let mut next = Task::new(sem.clone().acquire_owned());
    next.pending();
    sem.add_permits(1); // w: 2 of 3
    assert_eq!(sem.available_permits(), 0);
    drop(w);
    assert_eq!(next.wakes(), 1);
    assert_eq!(sem.available_permits(), 1);
    let p = next.ready_ok();
    assert!(Arc::ptr_eq(p.semaphore(), &sem));
    drop(p);
    assert_eq!(sem.available_permits(), 2);
}

// ---------------------------------------------------------------------------------------
// Close
// ---------------------------------------------------------------------------------------

#[test]
fn close_wakes_every_waiter_with_closed_and_returns_partial_permits() {
    let sem = Semaphore::new(3);
    let mut hold = sem.try_acquire_many(3).unwrap();
    let mut big = Task::new(sem.acquire_many(3));
    let mut s1 = Task::new(sem.acquire());
    let mut s2 = Task::new(sem.acquire());
    big.pending();
    s1.pending();
    s2.pending();
    drop(hold.split(2).unwrap()); // 2 of 3 assigned to `big`
    assert_eq!(sem.available_permits(), 0);

    assert!(sem.close());
    assert!(sem.is_closed());
    assert!(!sem.close(), "second close reports it was already closed");
    assert_eq!(wakes(&[&big, &s1, &s2]), [1, 1, 1]);
    assert_eq!(sem.waiting(), 0);

    assert_eq!(s1.ready_err(), AcquireError::Closed);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(big.ready_err(), AcquireError::Closed);
    assert_eq!(
        sem.available_permits(),
        2,
        "the 2 permits assigned to `big` came back"
    );
    assert_eq!(s2.ready_err(), AcquireError::Closed);
    drop((big, s1, s2));
    assert_eq!(sem.available_permits(), 2);

    // Held permits stay valid and return to the (closed) semaphore.
    assert_eq!(hold.permits(), 1);
    drop(hold);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    let mut late = Task::new(sem.acquire());
    assert_eq!(late.ready_err(), AcquireError::Closed);
    assert_eq!(late.wakes(), 0);
    assert_eq!(sem.waiting(), 0);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn close_then_drop_unpolled_partial_waiter_returns_its_permits() {
    let sem = Semaphore::new(1);
    let mut w = Task::new(sem.acquire_many(4));
    let mut s = Task::new(sem.acquire());
    w.pending(); // took the free one
    s.pending();
    sem.add_permits(2); // w has 3 of 4
    assert_eq!(sem.available_permits(), 0);
    sem.close();
    assert_eq!(wakes(&[&w, &s]), [1, 1]);
    drop(w); // woken by close, never polled
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(s.ready_err(), AcquireError::Closed);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn close_wakes_more_waiters_than_one_wake_batch_exactly_once() {
    let sem = Semaphore::new(0);
    let mut tasks: Vec<_> = (0..40)
        .map(|i| Task::new(sem.acquire_many(1 + i % 3)))
        .collect();
    for t in &mut tasks {
        t.pending();
    }
    sem.add_permits(1); // a partial assignment at the front (wants 1: granted)
    assert_eq!(tasks[0].wakes(), 1);
    sem.add_permits(1); // task 1 wants 2: partial
    assert_eq!(sem.waiting(), 39);
    sem.close();
    assert_eq!(sem.waiting(), 0);
    for (i, t) in tasks.iter().enumerate() {
        assert_eq!(t.wakes(), 1, "task {i}");
    }
    let p0 = tasks[0].ready_ok();
    for t in &mut tasks[1..] {
        assert_eq!(t.ready_err(), AcquireError::Closed);
    }
    assert_eq!(
        sem.available_permits(),
        1,
        "task 1's partial permit came back"
    );
    drop(p0);
    assert_eq!(sem.available_permits(), 2);
}

#[test]
fn granted_before_close_keeps_the_permit_accounting_exact() {
    let sem = Semaphore::new(1);
    let hold = sem.try_acquire().unwrap();
    let mut a = Task::new(sem.acquire());
    let mut b = Task::new(sem.acquire());
    a.pending();
    b.pending();
    drop(hold); // granted to `a`
    sem.close();
    assert_eq!(
        wakes(&[&a, &b]),
        [1, 1],
        "close wakes only those still queued"
    );
    assert_eq!(b.ready_err(), AcquireError::Closed);
    // Either `a` keeps its grant or it gets Closed and gives the permit back; the
    // permit must not vanish.
    match a.poll() {
        Poll::Ready(Ok(p)) => {
            assert_eq!(p.permits(), 1);
            assert_eq!(sem.available_permits(), 0);
            drop(p);
        }
        Poll::Ready(Err(e)) => assert_eq!(e, AcquireError::Closed),
        Poll::Pending => panic!("a granted acquire must not stay pending after close"),
    }
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn release_to_more_waiters_than_one_wake_batch() {
    let sem = Semaphore::new(0);
    let mut tasks: Vec<_> = (0..40).map(|_| Task::new(sem.acquire())).collect();
    for t in &mut tasks {
        t.pending();
    }
    sem.add_permits(45);
    assert_eq!(sem.available_permits(), 5);
    assert_eq!(sem.waiting(), 0);
    for (i, t) in tasks.iter_mut().enumerate() {
        assert_eq!(t.wakes(), 1, "task {i}");
        t.ready_ok().forget();
    }
    assert_eq!(sem.available_permits(), 5);
}

// ---------------------------------------------------------------------------------------
// permit-accounting (PITFALLS)
// ---------------------------------------------------------------------------------------

#[test]
fn permit_accounting_close_then_forget_then_add_permits() {
    let sem = Semaphore::new(3);
    let p = sem.try_acquire_many(2).unwrap();
    assert!(sem.close());
    p.forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(2);
    assert_eq!(sem.available_permits(), 3);
    assert!(sem.is_closed(), "adding permits must not reopen");
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert_eq!(
        sem.try_acquire_many(3).unwrap_err(),
        TryAcquireError::Closed
    );
    let mut a = Task::new(sem.acquire());
    assert_eq!(a.ready_err(), AcquireError::Closed);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(sem.waiting(), 0);
}

#[test]
fn permit_accounting_close_then_forget_owned_then_add_permits() {
    let sem = Arc::new(Semaphore::new(2));
    let a = sem.clone().try_acquire_owned().unwrap();
    let b = sem.clone().try_acquire_owned().unwrap();
    sem.close();
    a.forget();
    drop(b);
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(4);
    assert_eq!(sem.available_permits(), 5);
    assert_eq!(
        sem.clone().try_acquire_owned().unwrap_err(),
        TryAcquireError::Closed
    );
    let mut t = Task::new(sem.clone().acquire_owned());
    assert_eq!(t.ready_err(), AcquireError::Closed);
    assert_eq!(sem.available_permits(), 5);
}

#[test]
fn permit_accounting_acquire_many_above_max_errors_at_once() {
    let _wd = watchdog(
        "permit_accounting_acquire_many_above_max_errors_at_once",
        10,
    );
    let sem = Semaphore::new(0);
    // With waiters queued, too: the error must not wait its turn.
    let mut queued = Task::new(sem.acquire());
    queued.pending();
    for n in [MAX + 1, MAX + 2, usize::MAX] {
        let mut t = Task::new(sem.acquire_many(n));
        assert_eq!(t.ready_err(), AcquireError::TooManyPermits, "n = {n}");
        assert_eq!(t.wakes(), 0);
        assert_eq!(sem.waiting(), 1, "n = {n} must not queue");
        drop(t);
        let arc = Arc::new(Semaphore::new(0));
        let mut t = Task::new(arc.clone().acquire_many_owned(n));
        assert_eq!(
            t.ready_err(),
            AcquireError::TooManyPermits,
            "owned, n = {n}"
        );
        assert_eq!(arc.waiting(), 0);
        assert_eq!(
            sem.try_acquire_many(n).unwrap_err(),
            TryAcquireError::TooManyPermits
        );
        assert_eq!(
            arc.try_acquire_many_owned(n).unwrap_err(),
            TryAcquireError::TooManyPermits
        );
    }
    assert_eq!(
        std::thread::scope(|s| s
            .spawn(|| sem.acquire_many_blocking(MAX + 1).unwrap_err())
            .join()
            .unwrap()),
        AcquireError::TooManyPermits
    );
    sem.add_permits(1);
    assert_eq!(queued.wakes(), 1);
    drop(queued.ready_ok());

    // The maximum itself is fine.
    let full = Semaphore::new(MAX);
    let mut t = Task::new(full.acquire_many(MAX));
    let p = t.ready_ok();
    assert_eq!(p.permits(), MAX);
    assert_eq!(full.available_permits(), 0);
    drop(p);
    assert_eq!(full.available_permits(), MAX);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn permit_accounting_add_permits_overflow_panics() {
    let sem = Semaphore::new(MAX);
    sem.add_permits(1);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn permit_accounting_add_permits_overflow_in_steps_panics() {
    let sem = Semaphore::new(0);
    sem.add_permits(MAX - 1);
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), MAX);
    sem.add_permits(1);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn permit_accounting_add_permits_usize_max_panics() {
    Semaphore::new(0).add_permits(usize::MAX);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn permit_accounting_new_above_max_panics() {
    let _ = Semaphore::new(MAX + 1);
}

#[test]
fn permit_accounting_failed_add_permits_leaves_the_semaphore_usable() {
    let _wd = watchdog("permit_accounting_failed_add_permits", 10);
    let sem = Semaphore::new(MAX - 1);
    let err = catch_unwind(AssertUnwindSafe(|| sem.add_permits(2))).unwrap_err();
    assert!(
        panic_text(&err).contains("MAX_PERMITS"),
        "{}",
        panic_text(&err)
    );
    assert_eq!(
        sem.available_permits(),
        MAX - 1,
        "a rejected add adds nothing"
    );
    sem.add_permits(1);
    assert_eq!(sem.available_permits(), MAX);
    let p = sem.try_acquire_many(3).unwrap();
    assert_eq!(sem.available_permits(), MAX - 3);
    drop(p);
    assert_eq!(sem.available_permits(), MAX);
}

#[test]
fn permit_accounting_add_permits_overflow_with_waiters_panics_and_unlocks() {
    let _wd = watchdog("permit_accounting_add_permits_overflow_with_waiters", 10);
    let sem = Semaphore::new(0);
    let mut w = Task::new(sem.acquire_many(5));
    w.pending();
    let err = catch_unwind(AssertUnwindSafe(|| sem.add_permits(usize::MAX))).unwrap_err();
    assert!(
        panic_text(&err).contains("MAX_PERMITS"),
        "{}",
        panic_text(&err)
    );
    // Checked before anything was handed out: the waiter got nothing, nothing was freed.
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.waiting(), 1);
    assert!(w.poll().is_pending(), "the waiter was not granted permits");
    // The wait-list lock is free (everything below would spin forever otherwise; the
    // watchdog aborts): permits added now serve the waiter.
    sem.add_permits(5);
    assert!(w.poll().is_ready());
    drop(w);
    assert_eq!(sem.available_permits(), 5);
    // Just past the limit with permits already free: refused whole.
    sem.add_permits(MAX - 10);
    assert!(catch_unwind(AssertUnwindSafe(|| sem.add_permits(6))).is_err());
    assert_eq!(sem.available_permits(), MAX - 5);
    sem.add_permits(5);
    assert_eq!(sem.available_permits(), MAX);
    drop(sem.try_acquire().unwrap());
    sem.close();
    assert_eq!(sem.available_permits(), MAX);
}

fn panic_text(err: &Box<dyn std::any::Any + Send>) -> String {
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn permit_accounting_split_merge_forget() {
    let sem = Semaphore::new(6);
    let mut p = sem.try_acquire_many(5).unwrap();
    assert_eq!(sem.available_permits(), 1);

    assert!(p.split(6).is_none(), "cannot split more than held");
    assert_eq!(p.permits(), 5, "a failed split changes nothing");
    let q = p.split(2).unwrap();
    assert_eq!((p.permits(), q.permits()), (3, 2));
    let z = p.split(0).unwrap();
    assert_eq!((p.permits(), z.permits()), (3, 0));
    drop(z);
    assert_eq!(sem.available_permits(), 1);

    drop(q);
    assert_eq!(sem.available_permits(), 3);

    let r = sem.try_acquire_many(2).unwrap();
    p.merge(r);
    assert_eq!(p.permits(), 5);
    assert_eq!(sem.available_permits(), 1);

    // Forget a split-off part: those permits are gone for good, the rest come back.
    p.split(2).unwrap().forget();
    assert_eq!(p.permits(), 3);
    assert_eq!(sem.available_permits(), 1);
    drop(p);
    assert_eq!(sem.available_permits(), 4);

    // Split everything off: the emptied guard gives back nothing.
    let mut all = sem.try_acquire_many(4).unwrap();
    let rest = all.split(4).unwrap();
    drop(all);
    assert_eq!(sem.available_permits(), 0);
    drop(rest);
    assert_eq!(sem.available_permits(), 4);
}

#[test]
fn permit_accounting_split_part_dropped_feeds_the_waiter() {
    let sem = Semaphore::new(4);
    let mut p = sem.try_acquire_many(4).unwrap();
    let mut w = Task::new(sem.acquire_many(3));
    w.pending();
    drop(p.split(1).unwrap());
    assert_eq!(w.wakes(), 0);
    let mut q = p.split(2).unwrap();
    q.merge(p.split(0).unwrap());
    drop(q);
    assert_eq!(w.wakes(), 1);
    assert_eq!(sem.available_permits(), 0);
    let got = w.ready_ok();
    assert_eq!((got.permits(), p.permits()), (3, 1));
    drop((got, p));
    assert_eq!(sem.available_permits(), 4);
}

#[test]
#[should_panic(expected = "different semaphores")]
fn permit_accounting_merge_from_different_semaphores_panics() {
    let a = Semaphore::new(1);
    let b = Semaphore::new(1);
    let mut pa = a.try_acquire().unwrap();
    pa.merge(b.try_acquire().unwrap());
}

#[test]
fn permit_accounting_failed_merge_keeps_both_counts() {
    let a = Semaphore::new(2);
    let b = Semaphore::new(2);
    let mut pa = a.try_acquire().unwrap();
    let pb = b.try_acquire().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| pa.merge(pb))).is_err());
    assert_eq!(pa.permits(), 1);
    assert_eq!(
        b.available_permits(),
        2,
        "the rejected guard went back to `b`"
    );
    drop(pa);
    assert_eq!(a.available_permits(), 2);
}

#[test]
fn permit_accounting_owned_permits() {
    let sem = Arc::new(Semaphore::new(4));
    let p = sem.clone().try_acquire_many_owned(3).unwrap();
    assert_eq!(p.permits(), 3);
    assert!(Arc::ptr_eq(p.semaphore(), &sem));
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(
        sem.clone().try_acquire_many_owned(2).unwrap_err(),
        TryAcquireError::NoPermits
    );
    let q = sem.clone().try_acquire_owned().unwrap();
    q.forget();
    assert_eq!(sem.available_permits(), 0);
    let mut w = Task::new(sem.clone().acquire_many_owned(2));
    w.pending();
    drop(p);
    assert_eq!(w.wakes(), 1);
    assert_eq!(sem.available_permits(), 1);
    let got = w.ready_ok();
    assert_eq!(got.permits(), 2);
    drop(got);
    assert_eq!(sem.available_permits(), 3);
    assert_eq!(
        Arc::strong_count(&sem),
        1,
        "permits and futures released the Arc"
    );
}

#[test]
fn permit_accounting_static_semaphore() {
    static SEM: Semaphore = Semaphore::new(2);
    let p = SEM.try_acquire_many(2).unwrap();
    let mut w = Task::new(SEM.acquire());
    w.pending();
    drop(p);
    assert_eq!(w.wakes(), 1);
    assert_eq!(SEM.available_permits(), 1);
    drop(w.ready_ok());
    assert_eq!(SEM.available_permits(), 2);
}

// ---------------------------------------------------------------------------------------
// register-race (PITFALLS): a release landing while the acquirer is mid-queueing
// ---------------------------------------------------------------------------------------

type Hook = Box<dyn FnOnce() + Send>;

/// A waker that counts wakes and runs a hook (once) the first time it is cloned. The
/// semaphore clones the waker to store it while queueing, after it found no free permit
/// and before it is visible as queued: the hook lands a release exactly in that window.
struct HookWaker {
    wakes: AtomicUsize,
    hook: Mutex<Option<Hook>>,
}

const HOOK_VTABLE: RawWakerVTable =
    RawWakerVTable::new(hook_clone, hook_wake, hook_wake_by_ref, hook_drop);

fn hook_waker(hook: impl FnOnce() + Send + 'static) -> (Arc<HookWaker>, Waker) {
    let inner = Arc::new(HookWaker {
        wakes: AtomicUsize::new(0),
        hook: Mutex::new(Some(Box::new(hook))),
    });
    let raw = RawWaker::new(Arc::into_raw(inner.clone()).cast(), &HOOK_VTABLE);
    // SAFETY: the vtable below upholds the `RawWaker` contract for an `Arc<HookWaker>`
    // pointer: clone adds a strong count, drop and wake remove one, wake_by_ref borrows.
    (inner, unsafe { Waker::from_raw(raw) })
}

unsafe fn hook_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` came from `Arc::into_raw` and the waker being cloned holds a count.
    unsafe { Arc::increment_strong_count(data.cast::<HookWaker>()) };
    // SAFETY: as above; the count just added keeps it alive for this borrow.
    let inner = unsafe { &*data.cast::<HookWaker>() };
    let hook = inner.hook.lock().unwrap().take();
    if let Some(hook) = hook {
        hook();
    }
    RawWaker::new(data, &HOOK_VTABLE)
}

unsafe fn hook_wake(data: *const ()) {
    // SAFETY: consumes the count of the waker being woken.
    let inner = unsafe { Arc::from_raw(data.cast::<HookWaker>()) };
    inner.wakes.fetch_add(1, Ordering::SeqCst);
}

unsafe fn hook_wake_by_ref(data: *const ()) {
    // SAFETY: the waker being woken holds a count.
    let inner = unsafe { &*data.cast::<HookWaker>() };
    inner.wakes.fetch_add(1, Ordering::SeqCst);
}

unsafe fn hook_drop(data: *const ()) {
    // SAFETY: releases the count of the waker being dropped.
    drop(unsafe { Arc::from_raw(data.cast::<HookWaker>()) });
}

/// An acquire on an empty semaphore finds no permit; while it is storing its waker (not
/// yet visible as queued), another thread releases one and returns. The acquire must not
/// end up asleep beside that free permit: it either completes at once or is woken.
/// (Semaphore invariant 3, the waiter's half: queue, fence, re-check the free count.)
#[test]
fn register_race_release_while_acquirer_stores_its_waker() {
    let _wd = watchdog("register_race_release_while_acquirer_stores_its_waker", 10);
    let sem = Semaphore::new(0);
    let hook_ran = Arc::new(AtomicUsize::new(0));
    let in_window = Arc::new(AtomicUsize::new(0));
    thread::scope(|s| {
        let (go_tx, go_rx) = mpsc::channel::<()>();
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let sem_ref = &sem;
        let releaser = s.spawn(move || {
            go_rx.recv().unwrap();
            sem_ref.add_permits(1);
            done_tx.send(()).unwrap();
        });
        let (ran, window) = (hook_ran.clone(), in_window.clone());
        let (counter, waker) = hook_waker(move || {
            ran.fetch_add(1, Ordering::SeqCst);
            go_tx.send(()).unwrap();
            // The releaser needs no lock when nobody is queued, so it finishes while we
            // are still inside the semaphore; if it does block, carry on after a while.
            if done_rx.recv_timeout(Duration::from_millis(500)).is_ok() {
                window.fetch_add(1, Ordering::SeqCst);
            }
        });
        let mut cx = Context::from_waker(&waker);
        let mut acquire = std::pin::pin!(sem.acquire());
        let first = acquire.as_mut().poll(&mut cx);
        releaser.join().unwrap();
        assert_eq!(
            hook_ran.load(Ordering::SeqCst),
            1,
            "the waker was never stored"
        );
        match first {
            Poll::Ready(p) => drop(p.unwrap()),
            Poll::Pending => {
                assert_eq!(
                    counter.wakes.load(Ordering::SeqCst),
                    1,
                    "lost wakeup: pending, never woken, while {} permit(s) are free",
                    sem.available_permits()
                );
                match acquire.as_mut().poll(&mut cx) {
                    Poll::Ready(p) => drop(p.unwrap()),
                    Poll::Pending => panic!("woken but still pending; {sem:?}"),
                }
            }
        }
    });
    eprintln!(
        "release landed inside the window: {}",
        in_window.load(Ordering::SeqCst) == 1
    );
    assert_eq!(sem.available_permits(), 1);
    assert_eq!(sem.waiting(), 0);
}

// ---------------------------------------------------------------------------------------
// panic-drop (PITFALLS): a waker that panics leaves the accounting intact
// ---------------------------------------------------------------------------------------

/// A waker whose `wake` panics.
struct PanicOnWake;

impl Wake for PanicOnWake {
    fn wake(self: Arc<Self>) {
        panic!("test waker panics on wake");
    }

    fn wake_by_ref(self: &Arc<Self>) {
        panic!("test waker panics on wake");
    }
}

/// More waiters than one wake batch; the first one's waker panics when `add_permits`
/// grants it. The panic reaches the caller, but every permit must still be granted or
/// free, and every other waiter woken.
#[test]
fn panic_drop_waker_panic_during_release_loses_no_permit() {
    let _wd = watchdog("panic_drop_waker_panic_during_release_loses_no_permit", 10);
    const WAITERS: usize = 40;
    let sem = Semaphore::new(0);
    let panicky = Waker::from(Arc::new(PanicOnWake));
    let mut first = Task::new(sem.acquire());
    assert!(first.poll_with(&panicky).is_pending());
    let mut rest: Vec<_> = (1..WAITERS).map(|_| Task::new(sem.acquire())).collect();
    for t in &mut rest {
        t.pending();
    }
    let err = catch_unwind(AssertUnwindSafe(|| sem.add_permits(WAITERS))).unwrap_err();
    assert!(panic_text(&err).contains("test waker panics"));

    let woken = rest.iter().filter(|t| t.wakes() == 1).count();
    let granted = 1 + rest
        .iter_mut()
        .filter_map(|t| match t.poll() {
            Poll::Ready(Ok(p)) => {
                p.forget();
                Some(())
            }
            _ => None,
        })
        .count();
    // The panicking waker's own grant stands (it was assigned before the wake).
    first.ready_ok().forget();
    assert_eq!(
        (granted, sem.available_permits(), sem.waiting(), woken),
        (WAITERS, 0, 0, WAITERS - 1),
        "(granted, free, still queued, others woken) after a waker panicked in add_permits"
    );
}

/// More waiters than one wake batch; the first one's waker panics when `close` wakes it.
/// Every other waiter must still be woken (and fail with `Closed`), not left asleep on a
/// closed semaphore.
#[test]
fn panic_drop_waker_panic_during_close_wakes_everyone_else() {
    let _wd = watchdog(
        "panic_drop_waker_panic_during_close_wakes_everyone_else",
        10,
    );
    const WAITERS: usize = 40;
    let sem = Semaphore::new(0);
    let panicky = Waker::from(Arc::new(PanicOnWake));
    let mut first = Task::new(sem.acquire());
    assert!(first.poll_with(&panicky).is_pending());
    let mut rest: Vec<_> = (1..WAITERS).map(|_| Task::new(sem.acquire())).collect();
    for t in &mut rest {
        t.pending();
    }
    let err = catch_unwind(AssertUnwindSafe(|| sem.close())).unwrap_err();
    assert!(panic_text(&err).contains("test waker panics"));
    assert!(sem.is_closed());

    let not_woken: Vec<usize> = (1..WAITERS).filter(|&i| rest[i - 1].wakes() == 0).collect();
    let closed = rest
        .iter_mut()
        .map(|t| t.poll())
        .filter(|p| matches!(p, Poll::Ready(Err(AcquireError::Closed))))
        .count();
    assert_eq!(
        (sem.waiting(), closed),
        (0, WAITERS - 1),
        "waiters left asleep on a closed semaphore after a waker panicked in close: \
         {not_woken:?}"
    );
    assert_eq!(first.ready_err(), AcquireError::Closed);
}
