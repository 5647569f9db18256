//! The service: routes, the job queue, the worker pool, metrics, and the drain on shutdown.
//!
//! - `POST /jobs`: the handler never waits. It hands the request body to the queue with
//!   `try_send`; when the queue is full it answers `503 Service Unavailable` with
//!   `Retry-After`, and the channel counts the refusal in `rejected`.
//! - `POST /jobs/wait`: the handler waits for room, at most [`Config::wait_limit`]. A send
//!   that runs out of time is answered 503, and the channel counts it in `abandoned`.
//! - A fixed pool of workers drains the queue; each job takes [`Config::work`].
//! - A [`Semaphore`] caps the requests in flight: beyond it, 503 at once.
//! - `GET /metrics`: Prometheus text, read on scrape, from
//!   [`sluicebox::prometheus::Collector`], plus a histogram of each job's time from
//!   acceptance to completion.
//! - [`Running::shutdown`] (or `POST /shutdown`): stop accepting connections, close the
//!   queue, let the workers run every job already accepted, and return a [`Report`].
//!
//! [`QueueKind::Unbounded`] swaps the bounded channel for tokio's unbounded one and
//! drops the in-flight cap: the naive service, kept for contrast.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hdrhistogram::Histogram;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram as PromHistogram};
use prometheus_client::registry::Registry;
use sluicebox::{Receiver, Semaphore, Sender, Stats};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// Which queue sits between the handlers and the workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// A `sluicebox` channel of [`Config::capacity`] jobs: full means 503.
    Bounded,
    /// tokio's unbounded channel, and no in-flight cap: every job is accepted.
    Unbounded,
}

impl std::str::FromStr for QueueKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "bounded" => Ok(Self::Bounded),
            "unbounded" => Ok(Self::Unbounded),
            _ => Err(format!("queue is `bounded` or `unbounded`, not `{s}`")),
        }
    }
}

/// How the service is built.
#[derive(Clone, Debug)]
pub struct Config {
    /// The queue between the handlers and the workers.
    pub queue: QueueKind,
    /// Jobs queued at most (bounded queue only).
    pub capacity: usize,
    /// Workers draining the queue.
    pub workers: usize,
    /// How long one job takes (a sleep: the workers wait on something, as services do).
    pub work: Duration,
    /// How long `POST /jobs/wait` waits for room.
    pub wait_limit: Duration,
    /// Requests in flight at most (bounded queue only).
    pub in_flight: usize,
    /// Keep the id of every job run, for exactly-once checks (tests).
    pub record_ids: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            queue: QueueKind::Bounded,
            capacity: 64,
            workers: 4,
            work: Duration::from_millis(2),
            wait_limit: Duration::from_millis(50),
            in_flight: 1024,
            record_ids: false,
        }
    }
}

impl Config {
    /// Jobs per second the workers can run, at best.
    pub fn nominal_capacity(&self) -> f64 {
        self.workers as f64 / self.work.as_secs_f64()
    }
}

/// One accepted request: its id, its body, and when it was accepted.
struct Job {
    id: u64,
    body: Box<[u8]>,
    accepted: Instant,
}

#[derive(Clone)]
enum Queue {
    Bounded(Sender<Job>),
    Unbounded(mpsc::UnboundedSender<Job>),
}

/// The service's own counts of its answers.
#[derive(Default)]
struct Counts {
    accepted: AtomicU64,
    shed_full: AtomicU64,
    shed_timeout: AtomicU64,
    shed_in_flight: AtomicU64,
}

#[derive(Clone)]
struct App {
    queue: Queue,
    /// `None` for the unbounded queue.
    in_flight: Option<Arc<Semaphore>>,
    wait_limit: Duration,
    next_id: Arc<AtomicU64>,
    counts: Arc<Counts>,
    registry: Arc<Registry>,
    shutdown: Arc<Notify>,
}

/// What the workers ran, and the job latencies they saw.
struct Ran {
    count: AtomicU64,
    ids: Mutex<Vec<u64>>,
    record_ids: bool,
    /// Microseconds from acceptance to completion.
    latency: Mutex<Histogram<u64>>,
    prom_latency: PromHistogram,
}

/// Percentiles of a latency histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Largest.
    pub max_us: u64,
}

impl Latency {
    /// Summarizes a histogram of microseconds.
    pub fn of(h: &Histogram<u64>) -> Self {
        Self {
            count: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }
}

/// A new histogram of microseconds, up to an hour, 3 significant digits.
pub fn micros_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

/// What the service did, returned after the drain.
#[derive(Debug)]
pub struct Report {
    /// 202 answers.
    pub accepted: u64,
    /// Jobs the workers ran.
    pub ran: u64,
    /// 503s from `POST /jobs` because the queue was full.
    pub shed_full: u64,
    /// 503s from `POST /jobs/wait` because the wait ran out.
    pub shed_timeout: u64,
    /// 503s because the in-flight cap was reached.
    pub shed_in_flight: u64,
    /// Jobs still queued when the queue was closed (bounded queue only), all of which ran
    /// before [`Running::join`] returned.
    pub queued_at_close: usize,
    /// The bounded channel's counters after the drain.
    pub stats: Option<Stats>,
    /// Time from acceptance to completion, over every job run.
    pub job_latency: Latency,
    /// The id of every job run, in no order (with [`Config::record_ids`]).
    pub ran_ids: Vec<u64>,
}

/// A service serving on [`Running::addr`].
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: Arc<Notify>,
    task: JoinHandle<Report>,
}

impl Running {
    /// Asks the service to stop accepting and drain.
    pub fn shutdown(&self) {
        self.shutdown.notify_one();
    }

    /// A function that does [`Running::shutdown`], for a signal handler.
    pub fn stopper(&self) -> impl Fn() + Send + 'static {
        let shutdown = self.shutdown.clone();
        move || shutdown.notify_one()
    }

    /// Waits for the drain to end.
    pub async fn join(self) -> Report {
        self.task.await.expect("the service task panicked")
    }
}

fn busy(retry_after_secs: u64) -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, retry_after_secs.to_string())],
        "busy\n",
    )
        .into_response()
}

/// 202 with the job's id if it was queued; else 503, counted in `shed`.
fn answer(app: &App, id: u64, queued: bool, shed: &AtomicU64) -> Response {
    if queued {
        app.counts.accepted.fetch_add(1, Ordering::Relaxed);
        (StatusCode::ACCEPTED, format!("{id}\n")).into_response()
    } else {
        shed.fetch_add(1, Ordering::Relaxed);
        busy(1)
    }
}

fn job(app: &App, body: &Bytes) -> Job {
    Job {
        id: app.next_id.fetch_add(1, Ordering::Relaxed),
        // A copy, so that a queued job holds its own bytes and not hyper's read buffer.
        body: body.to_vec().into_boxed_slice(),
        accepted: Instant::now(),
    }
}

/// The in-flight cap: `Err` when it is reached (answer 503).
fn enter(app: &App) -> Result<Option<sluicebox::SemaphorePermit<'_>>, ()> {
    match &app.in_flight {
        None => Ok(None),
        Some(sem) => match sem.try_acquire() {
            Ok(permit) => Ok(Some(permit)),
            Err(_) => {
                app.counts.shed_in_flight.fetch_add(1, Ordering::Relaxed);
                Err(())
            }
        },
    }
}

async fn submit(State(app): State<App>, body: Bytes) -> Response {
    let Ok(_slot) = enter(&app) else {
        return busy(1);
    };
    let job = job(&app, &body);
    let id = job.id;
    let sent = match &app.queue {
        Queue::Bounded(tx) => tx.try_send(job).is_ok(),
        Queue::Unbounded(tx) => tx.send(job).is_ok(),
    };
    answer(&app, id, sent, &app.counts.shed_full)
}

async fn submit_waiting(State(app): State<App>, body: Bytes) -> Response {
    let Ok(_slot) = enter(&app) else {
        return busy(1);
    };
    let job = job(&app, &body);
    let id = job.id;
    let sent = match &app.queue {
        // A send that runs out of time is dropped while waiting: it did not send, and the
        // channel counts it in `abandoned`.
        Queue::Bounded(tx) => matches!(
            tokio::time::timeout(app.wait_limit, tx.send(job)).await,
            Ok(Ok(()))
        ),
        Queue::Unbounded(tx) => tx.send(job).is_ok(),
    };
    answer(&app, id, sent, &app.counts.shed_timeout)
}

async fn metrics(State(app): State<App>) -> Response {
    let mut page = String::new();
    match prometheus_client::encoding::text::encode(&mut page, &app.registry) {
        Ok(()) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            page,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn request_shutdown(State(app): State<App>) -> StatusCode {
    app.shutdown.notify_one();
    StatusCode::ACCEPTED
}

async fn run_job(job: Job, work: Duration, ran: &Ran) {
    tokio::time::sleep(work).await;
    std::hint::black_box(&job.body);
    let took = job.accepted.elapsed();
    ran.latency
        .lock()
        .unwrap()
        .saturating_record(took.as_micros() as u64);
    ran.prom_latency.observe(took.as_secs_f64());
    if ran.record_ids {
        ran.ids.lock().unwrap().push(job.id);
    }
    ran.count.fetch_add(1, Ordering::Relaxed);
}

/// Runs jobs until the channel is closed and drained.
async fn bounded_worker(rx: Receiver<Job>, work: Duration, ran: Arc<Ran>) {
    while let Some(job) = rx.recv().await {
        run_job(job, work, &ran).await;
    }
}

/// Runs jobs until every sender is gone and the queue is drained. tokio's unbounded
/// channel has one receiver; the workers share it behind a lock, as services built on it do.
async fn unbounded_worker(
    rx: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    work: Duration,
    ran: Arc<Ran>,
) {
    loop {
        let job = rx.lock().await.recv().await;
        match job {
            Some(job) => run_job(job, work, &ran).await,
            None => return,
        }
    }
}

/// Starts the service on `listener`.
pub fn start(config: Config, listener: tokio::net::TcpListener) -> std::io::Result<Running> {
    let addr = listener.local_addr()?;
    let prom_latency = PromHistogram::new(exponential_buckets(0.001, 2.0, 16));
    let ran = Arc::new(Ran {
        count: AtomicU64::new(0),
        ids: Mutex::new(Vec::new()),
        record_ids: config.record_ids,
        latency: Mutex::new(micros_histogram()),
        prom_latency: prom_latency.clone(),
    });
    let mut registry = Registry::default();
    registry.register(
        "job_latency_seconds",
        "Time from a job's acceptance to the end of its run",
        prom_latency,
    );
    let mut workers = Vec::new();
    let (queue, bounded_tx, in_flight) = match config.queue {
        QueueKind::Bounded => {
            let (tx, rx) = sluicebox::bounded::<Job>(config.capacity);
            let in_flight = Arc::new(Semaphore::new(config.in_flight));
            registry.register_collector(Box::new(
                sluicebox::prometheus::Collector::new()
                    .channel("jobs", tx.monitor().erase())
                    .semaphore("in_flight", in_flight.clone()),
            ));
            for _ in 0..config.workers {
                workers.push(tokio::spawn(bounded_worker(
                    rx.clone(),
                    config.work,
                    ran.clone(),
                )));
            }
            (Queue::Bounded(tx.clone()), Some(tx), Some(in_flight))
        }
        QueueKind::Unbounded => {
            let (tx, rx) = mpsc::unbounded_channel();
            let rx = Arc::new(tokio::sync::Mutex::new(rx));
            for _ in 0..config.workers {
                workers.push(tokio::spawn(unbounded_worker(
                    rx.clone(),
                    config.work,
                    ran.clone(),
                )));
            }
            (Queue::Unbounded(tx), None, None)
        }
    };
    let shutdown = Arc::new(Notify::new());
    let counts = Arc::new(Counts::default());
    let app = App {
        queue,
        in_flight,
        wait_limit: config.wait_limit,
        next_id: Arc::new(AtomicU64::new(0)),
        counts: counts.clone(),
        registry: Arc::new(registry),
        shutdown: shutdown.clone(),
    };
    let router = Router::new()
        .route("/jobs", post(submit))
        .route("/jobs/wait", post(submit_waiting))
        .route("/metrics", get(metrics))
        .route("/shutdown", post(request_shutdown))
        .with_state(app);
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move { stop.notified().await })
            .await
            .expect("serve");
        // No handler runs any more, and the router (with its senders) is gone. Close the
        // bounded channel (the unbounded one closed with its last sender); the workers run
        // what was accepted, then see the end.
        let mut queued_at_close = 0;
        if let Some(tx) = &bounded_tx {
            tx.close();
            queued_at_close = tx.len();
        }
        for w in workers {
            w.await.expect("a worker panicked");
        }
        let ran_ids = std::mem::take(&mut *ran.ids.lock().unwrap());
        let job_latency = Latency::of(&ran.latency.lock().unwrap());
        Report {
            accepted: counts.accepted.load(Ordering::Relaxed),
            ran: ran.count.load(Ordering::Relaxed),
            shed_full: counts.shed_full.load(Ordering::Relaxed),
            shed_timeout: counts.shed_timeout.load(Ordering::Relaxed),
            shed_in_flight: counts.shed_in_flight.load(Ordering::Relaxed),
            queued_at_close,
            stats: bounded_tx.map(|tx| tx.stats()),
            job_latency,
            ran_ids,
        }
    });
    Ok(Running {
        addr,
        shutdown,
        task,
    })
}
