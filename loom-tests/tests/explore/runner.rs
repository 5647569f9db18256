//! Tiers, scenario enumeration and the loop that model-checks a list of scenarios.
//!
//! - `SLUICEBOX_EXPLORE=ci` (the default): every scenario of one and two actors at
//!   preemption bound 2, the pinned three-actor scenarios at bound 2, and a fixed, seeded
//!   sample of the other three-actor scenarios at bound 1.
//! - `SLUICEBOX_EXPLORE=full`: every scenario of up to three actors at bound 2.
//! - `SLUICEBOX_EXPLORE_ONLY=<name>`: that one scenario, at `LOOM_MAX_PREEMPTIONS` (default
//!   2), with loom's own failure report (no catching), so `LOOM_LOG`, `LOOM_LOCATION` and
//!   `LOOM_CHECKPOINT_FILE` work as for any model.
//! - `SLUICEBOX_EXPLORE_SAMPLE=<n>` sets the sample size; `LOOM_MAX_PREEMPTIONS` overrides
//!   every bound.
//!
//! A failing scenario does not stop the run: its name is printed at once and the test
//! fails at the end, listing every failing name.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc as StdArc;
use std::time::Instant;

/// Executions counted across models (each scenario body bumps it once per execution).
pub static EXECUTIONS: AtomicU64 = AtomicU64::new(0);

pub struct Planned {
    pub name: String,
    pub bound: usize,
    pub model: StdArc<dyn Fn() + Send + Sync>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    Ci,
    Full,
}

impl Tier {
    pub fn from_env() -> Self {
        match std::env::var("SLUICEBOX_EXPLORE").as_deref() {
            Ok("full") => Tier::Full,
            Ok("ci") | Err(_) => Tier::Ci,
            Ok(other) => panic!("SLUICEBOX_EXPLORE={other}: expected `ci` or `full`"),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Ci => "ci",
            Tier::Full => "full",
        }
    }
}

/// Every multiset of `k` elements of `alphabet` (combinations with repetition), in order.
pub fn multisets<T: Copy>(alphabet: &[T], k: usize) -> Vec<Vec<T>> {
    fn go<T: Copy>(a: &[T], k: usize, from: usize, cur: &mut Vec<T>, out: &mut Vec<Vec<T>>) {
        if cur.len() == k {
            out.push(cur.clone());
            return;
        }
        for i in from..a.len() {
            cur.push(a[i]);
            go(a, k, i, cur, out);
            cur.pop();
        }
    }
    let mut out = Vec::new();
    go(alphabet, k, 0, &mut Vec::new(), &mut out);
    out
}

/// A fixed, seeded sample of `n` of `items` (a partial Fisher–Yates shuffle with
/// xorshift64*), in their original order: the same list on every run and machine.
pub fn sample<T>(items: Vec<T>, n: usize, seed: u64) -> Vec<T> {
    let mut state = seed | 1;
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut idx: Vec<usize> = (0..items.len()).collect();
    let n = n.min(idx.len());
    for i in 0..n {
        let j = i + (next() % (idx.len() - i) as u64) as usize;
        idx.swap(i, j);
    }
    let mut keep = idx[..n].to_vec();
    keep.sort_unstable();
    let mut items: Vec<Option<T>> = items.into_iter().map(Some).collect();
    keep.into_iter().map(|i| items[i].take().unwrap()).collect()
}

pub fn sample_size(default: usize) -> usize {
    std::env::var("SLUICEBOX_EXPLORE_SAMPLE")
        .map(|v| v.parse().expect("SLUICEBOX_EXPLORE_SAMPLE: a number"))
        .unwrap_or(default)
}

fn env_bound() -> Option<usize> {
    std::env::var("LOOM_MAX_PREEMPTIONS")
        .ok()
        .map(|v| v.parse().expect("LOOM_MAX_PREEMPTIONS: a number"))
}

fn builder(bound: usize) -> loom::model::Builder {
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(env_bound().unwrap_or(bound));
    b
}

/// Runs `plan` (or only `SLUICEBOX_EXPLORE_ONLY` from `everything`), prints the summary
/// line, and fails listing every failing scenario.
pub fn explore(family: &str, tier: Tier, plan: Vec<Planned>, everything: Vec<Planned>) {
    if let Ok(only) = std::env::var("SLUICEBOX_EXPLORE_ONLY") {
        if !only.starts_with(family) {
            return;
        }
        let p = everything
            .into_iter()
            .find(|p| p.name == only)
            .unwrap_or_else(|| panic!("no scenario named {only}"));
        let model = p.model.clone();
        // `loom::model` (bound 2 unless `LOOM_MAX_PREEMPTIONS` says otherwise): unlike
        // `Builder::check`, it installs the subscriber that prints `LOOM_LOG`.
        crate::common::model(move || model());
        println!("explore {only}: passed");
        return;
    }
    let start = Instant::now();
    let executions = EXECUTIONS.load(Relaxed);
    let mut failed = Vec::new();
    let verbose = std::env::var_os("SLUICEBOX_EXPLORE_VERBOSE").is_some();
    for p in &plan {
        let t = Instant::now();
        let model = p.model.clone();
        let b = builder(p.bound);
        let e0 = EXECUTIONS.load(Relaxed);
        let ok = catch_unwind(AssertUnwindSafe(|| b.check(move || model()))).is_ok();
        if !ok {
            eprintln!(
                "explore FAILED: {} (rerun: SLUICEBOX_EXPLORE_ONLY={})",
                p.name, p.name
            );
            failed.push(p.name.clone());
        } else if verbose {
            eprintln!(
                "explore ok: {} bound {} executions {} {:.2} s",
                p.name,
                p.bound,
                EXECUTIONS.load(Relaxed) - e0,
                t.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "explore {family} tier={}: {} scenarios, {} executions, {:.0} s, {} failed",
        tier.name(),
        plan.len(),
        EXECUTIONS.load(Relaxed) - executions,
        start.elapsed().as_secs_f64(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} scenarios failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
