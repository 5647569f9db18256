//! An HTTP service that sheds load instead of queueing it without bound.
//!
//! - `POST /jobs`: the handler never waits. It hands the job to a bounded channel with
//!   `try_send`; when the channel is full it answers `503 Service Unavailable` with
//!   `Retry-After: 1`, and the job is counted in `rejected`.
//! - `POST /jobs/wait`: the handler waits for room, at most `WAIT_LIMIT`; a send that
//!   times out is answered 503 and counted in `abandoned`.
//! - A fixed pool of workers drains the channel; each job takes `WORK` to run.
//! - A `Semaphore` caps the requests in flight; beyond it, 503 at once.
//! - `GET /metrics`: Prometheus text, from `sluicebox::prometheus::Collector`, read on
//!   scrape.
//! - Ctrl-C (or `POST /shutdown`) stops accepting, closes the channel, and the workers
//!   drain every job already accepted before the process exits.
//!
//! `cargo run --release -p sluicebox-http-service -- [PORT]`

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use prometheus_client::registry::Registry;
use sluicebox::{Receiver, Semaphore, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Jobs queued at most: the bound that sheds load.
const CAPACITY: usize = 64;
const WORKERS: usize = 4;
/// How long one job takes.
const WORK: Duration = Duration::from_millis(2);
/// How long `/jobs/wait` waits for room.
const WAIT_LIMIT: Duration = Duration::from_millis(50);
/// Requests in flight at most.
const IN_FLIGHT: usize = 1024;

/// A unit of work: its id, and whether a worker ran it.
struct Job {
    id: u64,
}

#[derive(Clone)]
struct App {
    jobs: Sender<Job>,
    in_flight: Arc<Semaphore>,
    next_id: Arc<AtomicU64>,
    registry: Arc<Registry>,
    shutdown: Arc<tokio::sync::Notify>,
}

fn busy() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::RETRY_AFTER, "1")],
        "busy\n",
    )
        .into_response()
}

async fn submit(State(app): State<App>) -> Response {
    let Ok(_slot) = app.in_flight.try_acquire() else {
        return busy();
    };
    let id = app.next_id.fetch_add(1, Ordering::Relaxed);
    match app.jobs.try_send(Job { id }) {
        Ok(()) => (StatusCode::ACCEPTED, format!("{id}\n")).into_response(),
        Err(_) => busy(),
    }
}

async fn submit_waiting(State(app): State<App>) -> Response {
    let Ok(_slot) = app.in_flight.try_acquire() else {
        return busy();
    };
    let id = app.next_id.fetch_add(1, Ordering::Relaxed);
    match tokio::time::timeout(WAIT_LIMIT, app.jobs.send(Job { id })).await {
        Ok(Ok(())) => (StatusCode::ACCEPTED, format!("{id}\n")).into_response(),
        // Timed out (counted in `abandoned`: the send was dropped while waiting) or closed.
        _ => busy(),
    }
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

/// Runs jobs until the channel is closed and drained; returns how many it ran.
async fn worker(rx: Receiver<Job>, done: Arc<AtomicU64>) -> u64 {
    let mut ran = 0;
    while let Some(job) = rx.recv().await {
        tokio::time::sleep(WORK).await;
        done.fetch_add(1, Ordering::Relaxed);
        std::hint::black_box(job.id);
        ran += 1;
    }
    ran
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .map(|p| p.parse().expect("PORT is a number"))
        .unwrap_or(8080);
    let (jobs, rx) = sluicebox::bounded::<Job>(CAPACITY);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut registry = Registry::default();
    registry.register_collector(Box::new(
        sluicebox::prometheus::Collector::new()
            .channel("jobs", jobs.monitor().erase())
            .semaphore("in_flight", in_flight.clone()),
    ));
    let done = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| tokio::spawn(worker(rx.clone(), done.clone())))
        .collect();
    drop(rx);
    let shutdown = Arc::new(tokio::sync::Notify::new());
    let app = App {
        jobs: jobs.clone(),
        in_flight,
        next_id: Arc::new(AtomicU64::new(0)),
        registry: Arc::new(registry),
        shutdown: shutdown.clone(),
    };
    let router = Router::new()
        .route("/jobs", post(submit))
        .route("/jobs/wait", post(submit_waiting))
        .route("/metrics", get(metrics))
        .route("/shutdown", post(request_shutdown))
        .with_state(app);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port");
    println!("listening on http://{}", listener.local_addr().unwrap());
    let stop = shutdown.clone();
    axum::serve(listener, router)
        .with_graceful_shutdown(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = stop.notified() => {}
            }
        })
        .await
        .expect("serve");
    // No handler runs any more: close the channel; the workers drain what was accepted.
    jobs.close();
    let mut ran = 0;
    for w in workers {
        ran += w.await.expect("a worker panicked");
    }
    let s = jobs.stats();
    println!(
        "shut down: accepted {}, ran {ran}, rejected {}, abandoned {}",
        s.sent, s.rejected, s.abandoned
    );
    assert_eq!(ran, s.sent, "every accepted job ran exactly once");
}
