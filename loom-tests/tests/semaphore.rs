//! The fair semaphore: mutual exclusion up to the permit count, FIFO for `acquire_many`,
//! close racing acquire, cancellation of a partly granted acquire, and permit accounting.
//!
//! Waiting goes through `acquire_blocking` (loom's park) or `loom::future::block_on`, so a
//! waiter nobody wakes is a loom deadlock. Actors run in spawned threads with a `Gate`
//! point before each call; models check that their interesting interleavings were
//! explored (see `common`).
#![cfg(loom)]

mod common;

use common::*;
use loom::future::block_on;
use loom::sync::Arc;
use loom::thread;
use sluicebox::{AcquireError, Semaphore, TryAcquireError};

/// `threads` threads each acquire one permit of `permits`, hold it, release it. In flight
/// never exceeds `permits`; all permits are back at the end. Explored: a holder saw
/// another thread waiting, and (with 2 permits) two holders at once.
fn acquire_release(permits: usize, threads: usize, blocking: bool) {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let sem = Arc::new(Semaphore::new(permits));
        let gate = Gate::new();
        let in_flight = Counter::new();
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (sem, in_flight, g) = (sem.clone(), in_flight.clone(), gate.clone());
                thread::spawn(move || {
                    g.point();
                    let permit = if blocking {
                        sem.acquire_blocking()
                    } else {
                        block_on(sem.acquire())
                    }
                    .expect("open semaphore");
                    assert_eq!(permit.permits(), 1);
                    let n = in_flight.inc();
                    assert!(n <= permits, "{n} holders of {permits} permits");
                    g.point();
                    let waiters = sem.waiting();
                    in_flight.dec();
                    drop(permit);
                    (n, waiters)
                })
            })
            .collect();
        let mut max = 0;
        let mut saw_waiter = false;
        for h in handles {
            let (n, waiters) = h.join().unwrap();
            max = max.max(n);
            saw_waiter |= waiters > 0;
        }
        seen.record((max, saw_waiter));
        assert_eq!(sem.available_permits(), permits);
        assert_eq!(sem.waiting(), 0);
    });
    outcomes.assert_seen((permits, true));
}

#[test]
fn acquire_release_1_permit_2_threads_blocking() {
    acquire_release(1, 2, true);
}

#[test]
fn acquire_release_1_permit_3_threads_async() {
    acquire_release(1, 3, false);
}

#[test]
fn acquire_release_2_permits_3_threads_blocking() {
    acquire_release(2, 3, true);
}

/// Fairness: a queued `acquire_many(2)` is not overtaken. Two permits, both taken (and
/// forgotten) by the main thread; `acquire_many(2)` is polled once (queued first); then one
/// thread adds the two permits back one at a time while another calls `acquire()`. The
/// single `acquire` may only succeed after the `acquire_many(2)` was granted and released:
/// a permit released while the big waiter is queued goes to it, not to the newcomer or the
/// free count. Explored: the newcomer queued behind the big waiter (it parked).
#[test]
fn acquire_many_fifo_not_overtaken() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let sem = Arc::new(Semaphore::new(2));
        let gate = Gate::new();
        sem.try_acquire_many(2).unwrap().forget();
        let big_released = Flag::new();

        let (_w, waker) = CountWaker::new();
        let mut big = Box::pin(sem.acquire_many(2));
        assert!(poll_once(big.as_mut(), &waker).is_pending());
        assert_eq!(sem.waiting(), 1);

        let releaser = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                sem.add_permits(1);
                g.point();
                sem.add_permits(1);
            })
        };
        let small = {
            let (sem, big_released, g) = (sem.clone(), big_released.clone(), gate.clone());
            thread::spawn(move || {
                let polls = Counter::new();
                g.point();
                let p =
                    block_on(counting_polls(sem.acquire(), polls.clone())).expect("open semaphore");
                assert!(
                    big_released.get(),
                    "acquire(1) overtook a queued acquire_many(2)"
                );
                drop(p);
                polls.get() >= 2
            })
        };
        gate.point();
        let permit = block_on(big.as_mut()).expect("open semaphore");
        assert_eq!(permit.permits(), 2);
        drop(big);
        big_released.set();
        gate.point();
        drop(permit);
        releaser.join().unwrap();
        seen.record(small.join().unwrap());
        assert_eq!(sem.available_permits(), 2);
    });
    outcomes.assert_seen(true);
}

/// `try_acquire` does not barge past a queued waiter: with `acquire_many(2)` queued on an
/// empty semaphore, a concurrent `add_permits(1)` assigns the permit to the waiter, and a
/// concurrent `try_acquire` fails whether it runs before or after the add.
#[test]
fn try_acquire_does_not_barge() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let sem = Arc::new(Semaphore::new(0));
        let gate = Gate::new();
        let added = Flag::new();
        let (_w, waker) = CountWaker::new();
        let mut big = Box::pin(sem.acquire_many(2));
        assert!(poll_once(big.as_mut(), &waker).is_pending());
        let releaser = {
            let (sem, g, added) = (sem.clone(), gate.clone(), added.clone());
            thread::spawn(move || {
                g.point();
                sem.add_permits(1);
                added.set();
            })
        };
        let barger = {
            let (sem, g, added) = (sem.clone(), gate.clone(), added.clone());
            thread::spawn(move || {
                g.point();
                let after_add = added.get();
                match sem.try_acquire() {
                    Err(TryAcquireError::NoPermits) => after_add,
                    other => panic!("try_acquire barged past a queued waiter: {other:?}"),
                }
            })
        };
        releaser.join().unwrap();
        seen.record(barger.join().unwrap());
        assert_eq!(sem.available_permits(), 0, "the permit went to the waiter");
        sem.add_permits(1);
        let p = block_on(big.as_mut()).unwrap();
        drop(big);
        drop(p);
        assert_eq!(sem.available_permits(), 2);
    });
    outcomes.assert_seen(true);
    outcomes.assert_seen(false);
}

/// Close racing a waiting acquire: it returns `Closed`, never sleeps forever. Explored:
/// the acquire parked before the close.
#[test]
fn close_racing_acquire() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let sem = Arc::new(Semaphore::new(0));
        let gate = Gate::new();
        let closer = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                assert!(sem.close());
            })
        };
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || {
                let polls = Counter::new();
                gate.point();
                let r = block_on(counting_polls(sem.acquire(), polls.clone()));
                assert_eq!(r.unwrap_err(), AcquireError::Closed);
                polls.get()
            })
        };
        closer.join().unwrap();
        seen.record(acquirer.join().unwrap());
        assert!(sem.is_closed());
    });
    outcomes.assert_seen(1);
    outcomes.assert_seen(2);
}

/// `permit-accounting`: close racing a partly granted `acquire_many_blocking(2)` (one
/// permit added meanwhile): the acquire fails with `Closed` and gives back the permit it
/// was assigned, so the added permit is free at the end. Explored: the permit was added
/// while the acquire was queued (so it was assigned to it).
#[test]
fn close_racing_partly_granted_acquire_many_permit_accounting() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let sem = Arc::new(Semaphore::new(0));
        let gate = Gate::new();
        let closer = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                sem.close();
            })
        };
        let adder = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                let queued = sem.waiting();
                sem.add_permits(1);
                queued
            })
        };
        let acquirer = {
            let sem = sem.clone();
            thread::spawn(move || {
                gate.point();
                assert_eq!(
                    sem.acquire_many_blocking(2).unwrap_err(),
                    AcquireError::Closed
                );
            })
        };
        closer.join().unwrap();
        seen.record(adder.join().unwrap());
        acquirer.join().unwrap();
        assert_eq!(sem.available_permits(), 1, "the added permit was lost");
        assert_eq!(sem.waiting(), 0);
    });
    outcomes.assert_seen(1);
}

/// `handoff` for permits: an `acquire_many(2)` polled once (queued), a permit added (and
/// assigned to it) while the future is dropped; a second waiter queued behind it must get
/// that permit: cancelling gives back what was assigned, and passes it on. Explored: the
/// add happened while both waiters were queued.
#[test]
fn handoff_cancel_partly_granted_acquire() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let sem = Arc::new(Semaphore::new(0));
        let gate = Gate::new();
        let (_w, waker) = CountWaker::new();
        let mut big = Box::pin(sem.acquire_many(2));
        assert!(poll_once(big.as_mut(), &waker).is_pending());
        let adder = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                let queued = sem.waiting();
                sem.add_permits(1);
                queued
            })
        };
        let small = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                let p = sem.acquire_blocking().expect("open semaphore");
                assert_eq!(p.permits(), 1);
            })
        };
        gate.point();
        drop(big); // cancel: racing the add (assigned or not)
        seen.record(adder.join().unwrap());
        small.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
        assert_eq!(sem.waiting(), 0);
    });
    outcomes.assert_seen(2);
}

/// `handoff`: a fully granted `acquire()` future dropped before it is polled again gives
/// its permit to the next waiter. Explored: the drop after the grant.
#[test]
fn handoff_granted_acquire_dropped_unpolled() {
    let outcomes = Outcomes::new();
    let seen = outcomes.clone();
    model(move || {
        let sem = Arc::new(Semaphore::new(1));
        let gate = Gate::new();
        sem.try_acquire().unwrap().forget();
        let (wakes, waker) = CountWaker::new();
        let mut first = Box::pin(sem.acquire());
        assert!(poll_once(first.as_mut(), &waker).is_pending());
        let second = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                drop(block_on(sem.acquire()).expect("open semaphore"));
            })
        };
        let releaser = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                sem.add_permits(1);
            })
        };
        gate.point();
        seen.record(wakes.wakes());
        drop(first);
        releaser.join().unwrap();
        second.join().unwrap();
        assert_eq!(sem.available_permits(), 1);
    });
    outcomes.assert_seen(1);
    outcomes.assert_seen(0);
}

/// `permit-accounting`: forget and add_permits racing acquire/release. Two permits; one
/// thread acquires and forgets one, one acquires and releases one, one adds a permit.
/// Afterwards exactly 2 - 1 + 1 = 2 are free, and `acquire_many(2)` succeeds at once.
#[test]
fn permit_accounting_forget_add_permits() {
    model(|| {
        let sem = Arc::new(Semaphore::new(2));
        let gate = Gate::new();
        let forgetter = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                sem.acquire_blocking().unwrap().forget()
            })
        };
        let adder = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                sem.add_permits(1)
            })
        };
        let user = {
            let sem = sem.clone();
            thread::spawn(move || {
                gate.point();
                drop(sem.acquire_blocking().unwrap());
            })
        };
        forgetter.join().unwrap();
        adder.join().unwrap();
        user.join().unwrap();
        assert_eq!(sem.available_permits(), 2);
        assert_eq!(sem.try_acquire_many(2).unwrap().permits(), 2);
        assert!(sem.try_acquire_many(3).is_err());
    });
}

/// `permit-accounting` after close: close racing a release and an `add_permits`; held
/// permits stay valid and come back; acquires fail with `Closed`.
#[test]
fn permit_accounting_close_then_release_and_add() {
    model(|| {
        let sem = Arc::new(Semaphore::new(1));
        let gate = Gate::new();
        let closer = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                assert!(sem.close());
            })
        };
        let adder = {
            let (sem, g) = (sem.clone(), gate.clone());
            thread::spawn(move || {
                g.point();
                sem.add_permits(2);
            })
        };
        let user = {
            let sem = sem.clone();
            thread::spawn(move || {
                gate.point();
                match sem.try_acquire() {
                    // Before the close: an ordinary permit, given back here.
                    Ok(p) => drop(p),
                    Err(TryAcquireError::Closed) => {}
                    Err(e) => panic!("{e:?} with a free permit"),
                }
            })
        };
        closer.join().unwrap();
        adder.join().unwrap();
        user.join().unwrap();
        assert_eq!(sem.available_permits(), 3);
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
        assert_eq!(block_on(sem.acquire()).unwrap_err(), AcquireError::Closed);
    });
}
