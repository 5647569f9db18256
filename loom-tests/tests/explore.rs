//! The scenario explorer: instead of one hand-written model per scenario, every
//! combination of up to three concurrent actors, each doing one operation of an alphabet,
//! from a few start states, checked under loom. See README.md, "Scenario explorer".
//!
//! - `explore/harness.rs`: actors polling by hand, their wakers, quiescence.
//! - `explore/chan.rs`: the channel alphabet, start states and checks.
//! - `explore/semaphore.rs`: the semaphore alphabet and checks.
//! - `explore/book.rs`: where each channel item went; `explore/held.rs`: a movable permit.
//! - `explore/runner.rs`: tiers, enumeration, sampling, the summary line.
#![cfg(loom)]

#[path = "explore/book.rs"]
mod book;
#[path = "explore/chan.rs"]
mod chan;
mod common;
#[path = "explore/harness.rs"]
mod harness;
#[path = "explore/held.rs"]
mod held;
#[path = "explore/runner.rs"]
mod runner;
#[path = "explore/semaphore.rs"]
mod semaphore;

use runner::{explore, multisets, sample, sample_size, Planned, Tier, EXECUTIONS};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc as StdArc;

/// Three-actor scenarios the CI tier always runs at bound 2: each has shown a bug.
const PINNED: &[&str] = &[
    "chan:c1:held-send:recv+recv+close_rx",
    "chan:c1:held-send:recv+recv+close_tx",
    "chan:c1:held-drop:recv+recv+close_rx",
    "chan:c1:held-send:recv_many+recv_many+close_rx",
    "chan:c1:empty:send+force_send+close_rx",
];

/// The seed of the CI tier's sample of three-actor scenarios.
const SEED: u64 = 0x5eed_0f_5a_1c_e_b0c;

fn plan<S: Clone + Send + Sync + 'static>(
    tier: Tier,
    by_size: [Vec<S>; 3],
    name: impl Fn(&S) -> String,
    run: impl Fn(&S) + Send + Sync + Copy + 'static,
    ci_sample: usize,
) -> (Vec<Planned>, Vec<Planned>) {
    let planned = |s: &S, bound| {
        let s2 = s.clone();
        Planned {
            name: name(s),
            bound,
            model: StdArc::new(move || {
                EXECUTIONS.fetch_add(1, Relaxed);
                run(&s2)
            }),
        }
    };
    let everything: Vec<Planned> = by_size.iter().flatten().map(|s| planned(s, 2)).collect();
    let [ones, twos, threes] = by_size;
    let mut plan: Vec<Planned> = ones.iter().chain(&twos).map(|s| planned(s, 2)).collect();
    match tier {
        Tier::Full => plan.extend(threes.iter().map(|s| planned(s, 2))),
        Tier::Ci => {
            let (pinned, rest): (Vec<S>, Vec<S>) = threes
                .into_iter()
                .partition(|s| PINNED.contains(&name(s).as_str()));
            plan.extend(pinned.iter().map(|s| planned(s, 2)));
            // Drawn from the scenarios without the panic ops (added later), so the
            // sample stays the list it was.
            let rest: Vec<S> = rest
                .into_iter()
                .filter(|s| !name(s).contains("panic"))
                .collect();
            let n = sample_size(ci_sample);
            plan.extend(sample(rest, n, SEED).iter().map(|s| planned(s, 1)));
        }
    }
    (plan, everything)
}

#[test]
fn explore_chan() {
    harness::quiet_test_panics();
    let tier = Tier::from_env();
    let by_size = [1, 2, 3].map(|k| {
        let mut v = Vec::new();
        for cap in [1, 2] {
            for start in chan::Start::ALL {
                for ops in multisets(&chan::Op::ALL, k) {
                    let sc = chan::Scenario { cap, start, ops };
                    if sc.valid() {
                        v.push(sc);
                    }
                }
            }
        }
        v
    });
    let (plan, everything) = plan(
        tier,
        by_size,
        chan::Scenario::name,
        |s: &chan::Scenario| s.execute(),
        300,
    );
    explore("chan", tier, plan, everything);
}

#[test]
fn explore_semaphore() {
    harness::quiet_test_panics();
    let tier = Tier::from_env();
    let by_size = [1, 2, 3].map(|k| {
        let mut v = Vec::new();
        for permits in [1, 2] {
            for taken in [false, true] {
                for ops in multisets(&semaphore::Op::ALL, k) {
                    v.push(semaphore::Scenario {
                        permits,
                        taken,
                        ops,
                    });
                }
            }
        }
        v
    });
    let (plan, everything) = plan(
        tier,
        by_size,
        semaphore::Scenario::name,
        |s: &semaphore::Scenario| s.execute(),
        100,
    );
    explore("sem", tier, plan, everything);
}
