//! The service on an ephemeral loopback port, overloaded, with its books checked: what the
//! clients were told, what `/metrics` says, and what the workers ran.

use sluicebox_http_service::load::{self, LoadConfig, Mode};
use sluicebox_http_service::prom_text;
use sluicebox_http_service::service::{self, Config, QueueKind, Running};
use std::time::Duration;

async fn start(config: Config) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind an ephemeral port");
    service::start(config, listener).expect("start the service")
}

/// Waits for the drain, failing (not hanging) if it stalls.
async fn join(running: Running) -> service::Report {
    tokio::time::timeout(Duration::from_secs(60), running.join())
        .await
        .expect("the service drained and stopped within 60 s")
}

fn sorted(mut ids: Vec<u64>) -> Vec<u64> {
    ids.sort_unstable();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_shed_with_503_and_every_accepted_job_runs_exactly_once() {
    let running = start(Config {
        capacity: 16,
        workers: 2,
        work: Duration::from_millis(2),
        wait_limit: Duration::from_millis(20),
        record_ids: true,
        ..Config::default()
    })
    .await;
    let addr = running.addr;

    // Both routes at once, 24 connections each, against 2 workers behind 16 slots.
    let jobs = LoadConfig {
        addr,
        path: "/jobs".into(),
        mode: Mode::Closed { concurrency: 24 },
        duration: Duration::from_millis(1500),
        body_len: 256,
        connections: 0,
    };
    let wait = LoadConfig {
        path: "/jobs/wait".into(),
        ..jobs.clone()
    };
    let (cj, cw) = (
        load::connect(&jobs).await.expect("connect"),
        load::connect(&wait).await.expect("connect"),
    );
    let (on_jobs, on_wait) = tokio::join!(load::run(jobs, cj), load::run(wait, cw));
    for r in [&on_jobs, &on_wait] {
        assert_eq!(r.errors, 0, "no request failed: {r:?}");
        assert_eq!(r.other, 0, "only 202 and 503 answers: {r:?}");
        assert_eq!(
            r.shed_without_retry_after, 0,
            "every 503 says when to retry"
        );
        assert!(r.accepted > 0, "some jobs accepted: {r:?}");
    }
    assert!(
        on_jobs.shed > 0,
        "the overload was shed with 503: {on_jobs:?}"
    );
    let accepted = on_jobs.accepted + on_wait.accepted;

    // The metrics page: valid text format, and the channel's books equal the clients'.
    let answer = load::request_once(addr, "GET", "/metrics")
        .await
        .expect("scrape");
    assert_eq!(answer.status, 200);
    let text = String::from_utf8(answer.body).expect("utf-8");
    let page = prom_text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for (family, kind) in [
        ("sluicebox_channel_sent", "counter"),
        ("sluicebox_channel_rejected", "counter"),
        ("sluicebox_channel_abandoned", "counter"),
        ("sluicebox_channel_items", "gauge"),
        ("sluicebox_channel_capacity", "gauge"),
        ("sluicebox_semaphore_available_permits", "gauge"),
        ("job_latency_seconds", "histogram"),
    ] {
        assert_eq!(
            page.types.get(family).map(String::as_str),
            Some(kind),
            "{family}\n{text}"
        );
        assert!(page.help.contains_key(family), "{family} has help text");
    }
    let sample = |s: &str| page.get(s).unwrap_or_else(|| panic!("no {s} in\n{text}"));
    assert_eq!(
        sample(r#"sluicebox_channel_capacity{channel="jobs"}"#),
        16.0
    );
    assert_eq!(
        sample(r#"sluicebox_channel_sent_total{channel="jobs"}"#),
        accepted as f64
    );
    // In-flight cap 1024 > 48 connections: every 503 on /jobs is a full queue, and every
    // 503 on /jobs/wait a send that ran out of time.
    assert_eq!(
        sample(r#"sluicebox_channel_rejected_total{channel="jobs"}"#),
        on_jobs.shed as f64
    );
    assert_eq!(
        sample(r#"sluicebox_channel_abandoned_total{channel="jobs"}"#),
        on_wait.shed as f64
    );
    assert_eq!(
        sample(r#"sluicebox_semaphore_available_permits{semaphore="in_flight"}"#),
        1024.0,
        "no request in flight, every permit back"
    );

    running.shutdown();
    let report = join(running).await;
    assert_eq!(report.shed_in_flight, 0);
    assert_eq!(
        report.accepted, accepted,
        "the server's 202s are the clients'"
    );
    assert_eq!(report.shed_full, on_jobs.shed);
    assert_eq!(report.shed_timeout, on_wait.shed);
    let stats = report.stats.expect("a bounded queue");
    assert_eq!(stats.sent, accepted, "sent == accepted");
    assert_eq!(
        stats.rejected, on_jobs.shed,
        "rejected == the 503s of /jobs"
    );
    assert_eq!(stats.abandoned, on_wait.shed);
    assert_eq!(stats.received, accepted);
    assert_eq!(report.ran, accepted);
    let mut client_ids = on_jobs.accepted_ids;
    client_ids.extend(on_wait.accepted_ids);
    assert_eq!(
        sorted(report.ran_ids),
        sorted(client_ids),
        "the workers ran exactly the accepted jobs, each once"
    );
    // A bounded queue bounds a job's wait: 16 jobs at about 1 ms each, plus the
    // /jobs/wait deadline. Far below this on any machine that runs the test at all.
    assert!(
        report.job_latency.max_us < 2_000_000,
        "job latency {:?}",
        report.job_latency
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_runs_every_queued_job_before_it_returns() {
    // One slow worker: the queue is still full when the service is told to stop.
    let running = start(Config {
        capacity: 8,
        workers: 1,
        work: Duration::from_millis(50),
        record_ids: true,
        ..Config::default()
    })
    .await;
    let addr = running.addr;
    let mut conn = load::Conn::connect(addr).await.expect("connect");
    let mut accepted_ids = Vec::new();
    let mut shed = 0;
    for _ in 0..20 {
        let answer = conn.request("POST", "/jobs", b"job").await.expect("answer");
        match answer.status {
            202 => accepted_ids.push(
                String::from_utf8(answer.body)
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap(),
            ),
            503 => shed += 1,
            other => panic!("status {other}"),
        }
    }
    drop(conn);
    assert!(
        shed > 0 && accepted_ids.len() >= 8,
        "{} accepted, {shed} shed",
        accepted_ids.len()
    );
    running.shutdown();
    let report = join(running).await;
    assert!(
        report.queued_at_close > 0,
        "the queue still held jobs when it was closed: {report:?}"
    );
    assert_eq!(report.ran, accepted_ids.len() as u64);
    assert_eq!(sorted(report.ran_ids), sorted(accepted_ids));
    assert_eq!(report.stats.expect("bounded").received, report.ran);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unbounded_queue_accepts_everything_and_its_jobs_wait_longer() {
    // The contrast: no 503 ever, and a job's wait grows with the backlog.
    let config = Config {
        queue: QueueKind::Unbounded,
        workers: 1,
        work: Duration::from_millis(2),
        record_ids: true,
        ..Config::default()
    };
    let running = start(config).await;
    let load_config = LoadConfig {
        addr: running.addr,
        path: "/jobs".into(),
        mode: Mode::Open { rate: 1000.0 },
        duration: Duration::from_millis(500),
        body_len: 256,
        connections: 16,
    };
    let conns = load::connect(&load_config).await.expect("connect");
    let r = load::run(load_config, conns).await;
    assert_eq!((r.shed, r.errors, r.other), (0, 0, 0), "{r:?}");
    running.shutdown();
    let report = join(running).await;
    assert_eq!(report.ran, r.accepted);
    assert_eq!(sorted(report.ran_ids), sorted(r.accepted_ids.clone()));
    // 500 jobs in 0.5 s; one worker runs at most 500 a second (a sleep takes at least
    // its 2 ms), so the last job ends at least 1 s after the first starts: it waited
    // about 0.5 s, less however late the generator sent it (a margin of 0.2 s here).
    assert_eq!(r.accepted, 500, "{r:?}");
    assert!(
        report.job_latency.max_us >= 300_000,
        "the last job waited behind the backlog: {:?}",
        report.job_latency
    );
}
