//! What both bench binaries share: the quick/full criterion settings and the two async
//! executors (tokio multi-thread with 2 workers, smol with 2 executor threads).
//!
//! Every benchmark reports *time per message* (or per acquire/release): one criterion
//! iteration is one message, so `estimates.json`'s median is ns/message directly.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use criterion::Criterion;

/// `SLUICEBOX_BENCH_QUICK=1` (anything but empty or `0`): short samples and a reduced
/// matrix, so the whole suite runs in a minute or two on a 2-core machine.
pub fn quick() -> bool {
    std::env::var("SLUICEBOX_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Criterion settings for both modes. Criterion's minimum sample size is 10.
pub fn criterion() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300))
            .nresamples(1_000)
    } else {
        c.sample_size(20)
            .warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
    }
}

/// An executor the async benches can run on, used through static dispatch.
pub trait Exec: Sync {
    const NAME: &'static str;

    /// Runs `f` to completion on the calling (non-worker) thread.
    fn block_on<F: Future>(&self, f: F) -> F::Output;

    /// Spawns `f` on the executor's worker threads; the returned future is its output.
    fn spawn<O, F>(&self, f: F) -> impl Future<Output = O> + Send + 'static
    where
        O: Send + 'static,
        F: Future<Output = O> + Send + 'static;
}

/// A tokio runtime type with its `Exec` impl; the two below differ only in the builder.
/// Every task is wrapped in `tokio::task::unconstrained`, so tokio's cooperative budget
/// (which only tokio's own channel consumes) does not handicap tokio's mpsc against the
/// others.
macro_rules! tokio_exec {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $builder:expr) => {
        $(#[$doc])*
        #[allow(dead_code)]
        pub struct $ty(tokio::runtime::Runtime);

        #[allow(dead_code)]
        impl $ty {
            pub fn get() -> &'static $ty {
                static RT: OnceLock<$ty> = OnceLock::new();
                RT.get_or_init(|| $ty($builder.build().expect("tokio runtime")))
            }
        }

        impl Exec for $ty {
            const NAME: &'static str = $name;

            fn block_on<F: Future>(&self, f: F) -> F::Output {
                self.0.block_on(f)
            }

            fn spawn<O, F>(&self, f: F) -> impl Future<Output = O> + Send + 'static
            where
                O: Send + 'static,
                F: Future<Output = O> + Send + 'static,
            {
                let handle = self.0.spawn(tokio::task::unconstrained(f));
                async move { handle.await.expect("bench task panicked") }
            }
        }
    };
}

tokio_exec!(
    /// tokio's multi-thread runtime with 2 workers: the async matrix rows.
    Tokio,
    "tokio",
    tokio::runtime::Builder::new_multi_thread().worker_threads(2)
);

tokio_exec!(
    /// tokio's current-thread runtime: every task runs on the thread that calls
    /// `block_on`. Not a matrix row: `SLUICEBOX_BENCH_ONE=tokio1/...` uses it to measure a
    /// channel with producer and consumer on one thread, where no slot's cache line
    /// crosses cores.
    Tokio1,
    "tokio1",
    tokio::runtime::Builder::new_current_thread()
);

/// A leaked `smol::Executor` run by 2 dedicated threads for the life of the process.
pub struct Smol(&'static smol::Executor<'static>);

impl Smol {
    pub fn get() -> &'static Smol {
        static EX: OnceLock<Smol> = OnceLock::new();
        EX.get_or_init(|| {
            let ex: &'static smol::Executor<'static> = Box::leak(Box::new(smol::Executor::new()));
            for i in 0..2 {
                std::thread::Builder::new()
                    .name(format!("smol-{i}"))
                    .spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())))
                    .expect("smol executor thread");
            }
            Smol(ex)
        })
    }
}

impl Exec for Smol {
    const NAME: &'static str = "smol";

    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }

    fn spawn<O, F>(&self, f: F) -> impl Future<Output = O> + Send + 'static
    where
        O: Send + 'static,
        F: Future<Output = O> + Send + 'static,
    {
        self.0.spawn(f)
    }
}
