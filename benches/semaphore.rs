//! Semaphore costs, sluicebox against tokio, async-lock and maitake-sync. Time per
//! acquire+release:
//!
//! - `sem_uncontended` `pair`: acquire one permit and release it, one thread, never waits
//!   (each acquire future is polled once with a no-op waker and must be ready).
//! - `sem_contended/<exec>` `4tasks_2permits`: 4 tasks loop acquire, yield once while
//!   holding, release; with 2 permits half of them are always queued. Every critical
//!   section counts itself in and out, asserting that at most 2 ever hold a permit, and
//!   the total number of sections is checked.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

mod support;
use support::{Exec, Smol, Tokio};

/// A semaphore, used through static dispatch.
trait Sem: Send + Sync + 'static {
    const NAME: &'static str;
    fn new(permits: usize) -> Self;
    fn available(&self) -> usize;
    /// Acquires one permit, runs `body`, releases the permit.
    fn with_permit<F: Future<Output = ()> + Send>(
        &self,
        body: F,
    ) -> impl Future<Output = ()> + Send;
}

impl Sem for sluicebox::Semaphore {
    const NAME: &'static str = "sluicebox";
    fn new(permits: usize) -> Self {
        sluicebox::Semaphore::new(permits)
    }
    fn available(&self) -> usize {
        self.available_permits()
    }
    async fn with_permit<F: Future<Output = ()> + Send>(&self, body: F) {
        let _permit = self.acquire().await.expect("semaphore closed");
        body.await;
    }
}

impl Sem for tokio::sync::Semaphore {
    const NAME: &'static str = "tokio";
    fn new(permits: usize) -> Self {
        tokio::sync::Semaphore::new(permits)
    }
    fn available(&self) -> usize {
        self.available_permits()
    }
    async fn with_permit<F: Future<Output = ()> + Send>(&self, body: F) {
        let _permit = self.acquire().await.expect("semaphore closed");
        body.await;
    }
}

impl Sem for async_lock::Semaphore {
    const NAME: &'static str = "async-lock";
    fn new(permits: usize) -> Self {
        async_lock::Semaphore::new(permits)
    }
    fn available(&self) -> usize {
        // async-lock has no `available_permits`: count what `try_acquire` gives out.
        let mut held = Vec::new();
        while let Some(g) = self.try_acquire() {
            held.push(g);
        }
        held.len()
    }
    async fn with_permit<F: Future<Output = ()> + Send>(&self, body: F) {
        let _guard = self.acquire().await;
        body.await;
    }
}

impl Sem for maitake_sync::Semaphore {
    const NAME: &'static str = "maitake-sync";
    fn new(permits: usize) -> Self {
        maitake_sync::Semaphore::new(permits)
    }
    fn available(&self) -> usize {
        self.available_permits()
    }
    async fn with_permit<F: Future<Output = ()> + Send>(&self, body: F) {
        let _permit = self.acquire(1).await.expect("semaphore closed");
        body.await;
    }
}

/// Polls `f` once with a no-op waker; it must complete (an uncontended acquire never waits).
#[inline]
fn ready<F: Future>(f: F) -> F::Output {
    let f = pin!(f);
    match f.poll(&mut Context::from_waker(futures::task::noop_waker_ref())) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("uncontended acquire was not ready"),
    }
}

/// Returns `Pending` once (after waking itself), so a task holds its permit across a
/// trip through the scheduler. Executor-agnostic, unlike `tokio::task::yield_now`.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

fn uncontended_one<S: Sem>(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
) {
    let sem = S::new(1);
    // `ready` panics if an acquire is not immediately ready; every permit must be back.
    // (No "it ran" check: a criterion filter that skips this row runs it zero times.)
    g.bench_function(BenchmarkId::new(S::NAME, "pair"), |b| {
        b.iter(|| ready(sem.with_permit(async {})))
    });
    assert_eq!(sem.available(), 1, "{}: permit not returned", S::NAME);
}

/// 4 tasks, 2 permits, `n` critical sections in all.
fn run_contended<S: Sem, E: Exec>(ex: &E, n: u64) -> Duration {
    const TASKS: u64 = 4;
    const PERMITS: usize = 2;
    let sem = Arc::new(S::new(PERMITS));
    let inside = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let elapsed = ex.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..TASKS)
            .map(|t| {
                let (sem, inside, done) = (sem.clone(), inside.clone(), done.clone());
                ex.spawn(async move {
                    let mine = n / TASKS + u64::from(t < n % TASKS);
                    for _ in 0..mine {
                        sem.with_permit(async {
                            let now = inside.fetch_add(1, Ordering::Relaxed) + 1;
                            assert!(now <= PERMITS, "{}: {now} holders", S::NAME);
                            yield_once().await;
                            inside.fetch_sub(1, Ordering::Relaxed);
                        })
                        .await;
                    }
                    done.fetch_add(mine, Ordering::Relaxed);
                })
            })
            .collect();
        for t in tasks {
            t.await;
        }
        start.elapsed()
    });
    assert_eq!(done.load(Ordering::Relaxed), n, "{}: sections run", S::NAME);
    assert_eq!(sem.available(), PERMITS, "{}: permits lost", S::NAME);
    elapsed
}

fn contended_rows<E: Exec>(c: &mut Criterion, ex: &E) {
    fn one<S: Sem, E: Exec>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        ex: &E,
    ) {
        g.bench_function(BenchmarkId::new(S::NAME, "4tasks_2permits"), |b| {
            b.iter_custom(|iters| run_contended::<S, E>(ex, iters))
        });
    }
    let mut g = c.benchmark_group(format!("sem_contended/{}", E::NAME));
    g.throughput(Throughput::Elements(1));
    one::<sluicebox::Semaphore, E>(&mut g, ex);
    one::<tokio::sync::Semaphore, E>(&mut g, ex);
    one::<async_lock::Semaphore, E>(&mut g, ex);
    one::<maitake_sync::Semaphore, E>(&mut g, ex);
    g.finish();
}

fn benches(c: &mut Criterion) {
    let mut g = c.benchmark_group("sem_uncontended");
    g.throughput(Throughput::Elements(1));
    uncontended_one::<sluicebox::Semaphore>(&mut g);
    uncontended_one::<tokio::sync::Semaphore>(&mut g);
    uncontended_one::<async_lock::Semaphore>(&mut g);
    uncontended_one::<maitake_sync::Semaphore>(&mut g);
    g.finish();

    contended_rows(c, Tokio::get());
    contended_rows(c, Smol::get());
}

criterion_group! {
    name = semaphore;
    config = support::criterion();
    targets = benches
}
criterion_main!(semaphore);
