//! Where every channel item went, for the explorer's end-of-execution checks.
//!
//! The `Ledger` (in `common`) says each item was dropped exactly once; the book says by
//! whom: an item the channel *accepted* (a send that returned `Ok`, a permit's send, a
//! start-state fill) must come back out exactly once — received, returned by
//! `force_send` as evicted, or drained by the main thread at teardown — unless the last
//! receiver is gone (then the channel drops what is queued). A drop-oldest send swaps in
//! one step, so every eviction is handed back: `stats().evicted` equals the evictions
//! returned.
//!
//! Test bookkeeping, so `std` sync (see `common`): loom runs every modelled thread on one
//! OS thread, and the lock is never held across an API call.

use std::sync::Mutex;

/// How a `force_send` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forced {
    /// `Ok(None)`.
    Plain,
    /// `Ok(Some(evicted))`.
    Evicted,
    /// `Err(Full)` or `Err(Closed)`.
    GaveUp,
}

#[derive(Default)]
struct Inner {
    accepted: Vec<bool>,
    out: Vec<usize>,
    forced: Vec<Forced>,
}

pub struct Book(Mutex<Inner>);

impl Book {
    pub fn new(ids: usize) -> Self {
        Self(Mutex::new(Inner {
            accepted: vec![false; ids],
            out: vec![0; ids],
            forced: Vec::new(),
        }))
    }

    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The channel took item `id`.
    pub fn accepted(&self, id: usize) {
        self.with(|b| b.accepted[id] = true);
    }

    /// Item `id` came back out of the channel (received, evicted and returned, drained).
    pub fn out(&self, id: usize) {
        self.with(|b| b.out[id] += 1);
    }

    pub fn forced(&self, how: Forced) {
        self.with(|b| b.forced.push(how));
    }

    /// Checks the book at the end of an execution. `receivers_gone`: the last receiver
    /// was dropped, so the channel may drop what is queued. `evicted`: `stats().evicted`.
    #[track_caller]
    pub fn check(&self, receivers_gone: bool, evicted: u64) {
        self.with(|b| {
            for (id, &n) in b.out.iter().enumerate() {
                assert!(n <= 1, "item {id} came out of the channel {n} times");
                assert!(
                    n == 0 || b.accepted[id],
                    "item {id} came out of the channel, but its send did not report success"
                );
            }
            if receivers_gone {
                return;
            }
            let lost: Vec<usize> = (0..b.out.len())
                .filter(|&id| b.accepted[id] && b.out[id] == 0)
                .collect();
            let returned = b.forced.iter().filter(|&&f| f == Forced::Evicted).count() as u64;
            // A drop-oldest send is one step: every eviction comes back to its caller.
            assert_eq!(
                evicted, returned,
                "stats().evicted counts evictions that were not handed back (force_send \
                 results {:?})",
                b.forced
            );
            assert!(
                lost.is_empty(),
                "items {lost:?} were accepted, then dropped by the channel while a receiver \
                 could still have received them (force_send results {:?}, stats().evicted \
                 {evicted})",
                b.forced
            );
        });
    }
}
