//! Shared support for the try-API suites (`try_api`, `pitfalls_ring`, `stress_try`): a
//! per-test drop ledger with a heap-owning token (so miri sees a leak or a double free), a
//! small deterministic PRNG, and a watchdog that turns a hang into a test failure.
//!
//! Self-contained on purpose (std only): these binaries also run under miri, where the
//! executor-heavy `tests/common` would only cost time.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// How long a scenario may run before the watchdog fails it. Miri runs 100-1000x slower
/// than native code, so it gets a much longer leash (the limit only matters on a hang).
pub const WATCHDOG_SECS: u64 = if cfg!(miri) { 1200 } else { 20 };

// ---------------------------------------------------------------------------------------
// Drop ledger
// ---------------------------------------------------------------------------------------

/// Counts, per item id, how many times the item was dropped. One ledger per test, so tests
/// running in parallel never share counters.
#[derive(Clone)]
pub struct Ledger(Arc<[AtomicUsize]>);

impl Ledger {
    pub fn new(n: usize) -> Self {
        Self((0..n).map(|_| AtomicUsize::new(0)).collect())
    }

    /// A fresh token for `id`. Each id must be minted at most once.
    pub fn token(&self, id: usize) -> Token {
        Token {
            id,
            payload: Box::new(id as u64),
            ledger: self.clone(),
            bomb: false,
        }
    }

    /// A token whose `Drop` panics (after recording the drop).
    pub fn bomb(&self, id: usize) -> Token {
        let mut token = self.token(id);
        token.bomb = true;
        token
    }

    pub fn drops(&self, id: usize) -> usize {
        self.0[id].load(Ordering::SeqCst)
    }

    /// Total drops recorded over all ids.
    pub fn total(&self) -> usize {
        self.0.iter().map(|c| c.load(Ordering::SeqCst)).sum()
    }

    /// Asserts that ids in `range` were dropped exactly `times` times each.
    #[track_caller]
    pub fn assert_range(&self, range: std::ops::Range<usize>, times: usize, what: &str) {
        for id in range {
            let n = self.drops(id);
            assert_eq!(
                n, times,
                "{what}: item {id} dropped {n} times, expected {times}"
            );
        }
    }

    /// Asserts that every id was dropped exactly once.
    #[track_caller]
    pub fn assert_all_once(&self, what: &str) {
        self.assert_range(0..self.0.len(), 1, what);
    }
}

/// An item that records its drop in a [`Ledger`] and owns a heap box, so a double drop is a
/// double free (and a leak is a leak) under miri.
pub struct Token {
    pub id: usize,
    payload: Box<u64>,
    ledger: Ledger,
    bomb: bool,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({})", self.id)
    }
}

impl Token {
    /// The id, read through the heap payload (so a use-after-free is caught by miri too).
    pub fn value(&self) -> usize {
        *self.payload as usize
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        assert_eq!(*self.payload as usize, self.id, "token payload corrupted");
        self.ledger.0[self.id].fetch_add(1, Ordering::SeqCst);
        if self.bomb && !std::thread::panicking() {
            panic!("bomb {} exploded", self.id);
        }
    }
}

// ---------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------

/// xorshift64*: deterministic, seedable, good enough to pick operations.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

// ---------------------------------------------------------------------------------------
// Watchdog
// ---------------------------------------------------------------------------------------

/// Runs `f` on its own thread and panics (failing the test) if it has not finished after
/// `secs` seconds, so a spin or a deadlock fails the test instead of hanging the run. A
/// panic inside `f` is re-raised here with its message.
#[track_caller]
pub fn watchdog<F: FnOnce() + Send + 'static>(name: &str, secs: u64, f: F) {
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name(format!("scenario {name}"))
        .spawn(move || {
            f();
            let _ = done_tx.send(());
        })
        .expect("spawn scenario thread");
    match done_rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => handle.join().expect("scenario thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("scenario thread ended without reporting"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "WATCHDOG: scenario `{name}` did not finish within {secs} s (a spin or a \
             deadlock; the stuck thread is left behind)"
        ),
    }
}
