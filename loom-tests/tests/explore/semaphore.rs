//! Semaphore scenarios: the alphabet of actor operations, the start states, and one
//! execution of a scenario with its checks.

use crate::common::{Counter, Gate};
use crate::harness::{clone_panics, contain, Actor, Harness, Wait};
use loom::sync::Arc;
use loom::thread;
use sluicebox::Semaphore;
use std::future::Future;

/// One actor's operation (each actor does one; `gate.point()` precedes every API call).
/// Permits an actor gets are given back (dropped) at once unless the operation says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Op {
    /// `acquire().await`.
    Acquire,
    /// `acquire_many(2).await`.
    AcquireMany,
    TryAcquire,
    /// An `acquire` future polled once, then dropped.
    AcquireOnce,
    /// `add_permits(1)`.
    AddPermits,
    Close,
    /// `acquire().await`, then `forget()` the permit.
    Forget,
    /// `acquire_many(2).await`, `split(1)` and drop the split-off part, then `merge` a
    /// `try_acquire`d permit into the rest.
    SplitMerge,
    /// `acquire_many(2)`, first polled with a waker whose `clone` panics (the panic
    /// reaches us), then `.await`ed: the panic must leave no permit taken.
    AcquireManyClonePanic,
}

impl Op {
    pub const ALL: [Op; 9] = [
        Op::Acquire,
        Op::AcquireMany,
        Op::TryAcquire,
        Op::AcquireOnce,
        Op::AddPermits,
        Op::Close,
        Op::Forget,
        Op::SplitMerge,
        Op::AcquireManyClonePanic,
    ];

    /// Whether the actor may wait (poll a future to completion).
    fn parks(self) -> bool {
        matches!(
            self,
            Op::Acquire | Op::AcquireMany | Op::Forget | Op::SplitMerge | Op::AcquireManyClonePanic
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::Acquire => "acquire",
            Op::AcquireMany => "acquire_many",
            Op::TryAcquire => "try_acquire",
            Op::AcquireOnce => "acquire_once",
            Op::AddPermits => "add_permits",
            Op::Close => "close",
            Op::Forget => "forget",
            Op::SplitMerge => "split_merge",
            Op::AcquireManyClonePanic => "acquire_many_clone_panic",
        }
    }
}

/// A semaphore scenario: initial permits, whether the main thread holds them all at the
/// start (and gives them back at the first quiescence), one operation per actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scenario {
    pub permits: usize,
    pub taken: bool,
    pub ops: Vec<Op>,
}

/// Permits added and forgotten by the actors (test bookkeeping, see `common`).
#[derive(Default)]
struct Tally {
    added: Counter,
    forgotten: Counter,
}

impl Scenario {
    pub fn name(&self) -> String {
        let ops: Vec<_> = self.ops.iter().map(|o| o.name()).collect();
        let start = if self.taken { "taken" } else { "free" };
        format!("sem:p{}:{start}:{}", self.permits, ops.join("+"))
    }

    /// Runs one execution (called inside `loom::model`).
    pub fn execute(&self) {
        let sem = Arc::new(Semaphore::new(self.permits));
        let gate = Gate::new();
        let parks: Vec<bool> = self.ops.iter().map(|o| o.parks()).collect();
        let harness = Harness::new(&parks);
        let tally = std::sync::Arc::new(Tally::default());
        let main_held = self.taken.then(|| {
            sem.try_acquire_many(self.permits)
                .expect("a fresh semaphore")
        });
        let actors: Vec<_> = self
            .ops
            .iter()
            .enumerate()
            .map(|(i, &op)| {
                let actor = Harness::actor(&harness, i, op.parks());
                let (sem, gate, tally) = (sem.clone(), gate.clone(), tally.clone());
                let t = thread::spawn(move || {
                    contain(|| act(op, &sem, &actor, &gate, &tally));
                    drop(actor);
                });
                (op.parks(), t)
            })
            .collect();
        let mut parking = Vec::new();
        for (parks, t) in actors {
            if parks {
                parking.push(t);
            } else {
                t.join().unwrap();
            }
        }

        let held = main_held.as_ref().map_or(0, |p| p.permits());
        self.probe("first quiescence", &harness.quiesce(), &sem, held, &tally);
        if let Some(p) = main_held {
            drop(p);
            let parked = harness.quiesce();
            self.probe(
                "quiescence after the main thread's release",
                &parked,
                &sem,
                0,
                &tally,
            );
        }
        harness.give_up();
        for a in parking {
            a.join().unwrap();
        }
        assert_eq!(
            sem.waiting(),
            0,
            "waiters left queued after every actor finished"
        );
        assert_eq!(
            sem.available_permits() + tally.forgotten.get(),
            self.permits + tally.added.get(),
            "permits not conserved: available + forgotten != initial + added"
        );
    }

    /// At quiescence: permits are conserved (some may be assigned to a queued
    /// `acquire_many`, so `<=`), and every parked actor may wait.
    fn probe(&self, phase: &str, parked: &[Option<Wait>], sem: &Semaphore, held: usize, t: &Tally) {
        let available = sem.available_permits();
        let anyone_parked = parked.iter().any(Option::is_some);
        let total = available + held + t.forgotten.get();
        let expected = self.permits + t.added.get();
        assert!(
            total == expected || anyone_parked && total < expected,
            "permits not conserved at the {phase}: available {available} + held {held} + \
             forgotten {} != initial {} + added {}",
            t.forgotten.get(),
            self.permits,
            t.added.get()
        );
        for (i, wait) in parked.iter().enumerate() {
            if wait.is_none() {
                continue;
            }
            let who = format!("actor {i} ({}), at the {phase}", self.ops[i].name());
            assert!(
                !sem.is_closed(),
                "lost wakeup: {who} waits on a closed semaphore"
            );
            assert_eq!(available, 0, "lost wakeup: {who} waits beside free permits");
        }
    }
}

fn act(op: Op, sem: &Semaphore, actor: &Actor, gate: &Gate, tally: &Tally) {
    gate.point();
    match op {
        Op::Acquire => drop(actor.run(Wait::Permits, sem.acquire())),
        Op::AcquireMany => drop(actor.run(Wait::Permits, sem.acquire_many(2))),
        Op::AcquireManyClonePanic => {
            let mut fut = std::pin::pin!(sem.acquire_many(2));
            let waker = clone_panics();
            let mut cx = std::task::Context::from_waker(&waker);
            // Ready at once (free permits, no clone needed), or the clone's panic.
            if let Some(std::task::Poll::Ready(got)) = contain(|| fut.as_mut().poll(&mut cx)) {
                drop(got);
                return;
            }
            gate.point();
            drop(actor.run(Wait::Permits, fut));
        }
        Op::TryAcquire => drop(sem.try_acquire()),
        Op::AcquireOnce => drop(actor.poll_once(sem.acquire())),
        Op::AddPermits => {
            sem.add_permits(1);
            tally.added.inc();
        }
        Op::Close => {
            sem.close();
        }
        Op::Forget => {
            if let Some(Ok(p)) = actor.run(Wait::Permits, sem.acquire()) {
                gate.point();
                p.forget();
                tally.forgotten.inc();
            }
        }
        Op::SplitMerge => {
            if let Some(Ok(mut p)) = actor.run(Wait::Permits, sem.acquire_many(2)) {
                gate.point();
                drop(p.split(1).expect("two permits held"));
                gate.point();
                if let Ok(q) = sem.try_acquire() {
                    p.merge(q);
                }
                assert!((1..=2).contains(&p.permits()));
            }
        }
    }
}
