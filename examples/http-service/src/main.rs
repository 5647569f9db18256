//! `sluicebox-http-service`: serve, or load a served copy of itself and measure it.
//!
//! ```text
//! serve [--port 8080] [--queue bounded|unbounded] [--capacity 64] [--workers 4] [--work-ms 2]
//!     Serves until Ctrl-C or `POST /shutdown`, drains, prints a `report` line.
//! load [--queue bounded|unbounded] (--rate R | --concurrency C) [--path /jobs]
//!      [--seconds 10] [--body 1024] [--connections 256]
//!     Starts `serve --port 0` as a child process, drives it over loopback, samples the
//!     child's RSS each second, then shuts it down and prints both sides' books.
//! table [--seconds 10]
//!     The README's table: /jobs at 1x, 3x and 10x the workers' capacity, /jobs/wait at
//!     3x, and the unbounded queue at 3x and 10x.
//! ```

use sluicebox_http_service::load::{self, LoadConfig, LoadResult, Mode};
use sluicebox_http_service::service::{self, Config, QueueKind};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

/// `--name value` pairs.
struct Args(HashMap<String, String>);

impl Args {
    fn parse(args: impl Iterator<Item = String>) -> Self {
        let mut map = HashMap::new();
        let mut args = args.peekable();
        while let Some(a) = args.next() {
            let name = a
                .strip_prefix("--")
                .unwrap_or_else(|| panic!("expected --option, got `{a}`"));
            let value = args
                .next()
                .unwrap_or_else(|| panic!("--{name} needs a value"));
            map.insert(name.to_string(), value);
        }
        Self(map)
    }

    fn get<T: std::str::FromStr>(&self, name: &str, default: T) -> T
    where
        T::Err: std::fmt::Display,
    {
        match self.0.get(name) {
            None => default,
            Some(v) => v.parse().unwrap_or_else(|e| panic!("--{name} {v}: {e}")),
        }
    }
}

fn config(args: &Args) -> Config {
    let d = Config::default();
    Config {
        queue: args.get("queue", d.queue),
        capacity: args.get("capacity", d.capacity),
        workers: args.get("workers", d.workers),
        work: Duration::from_micros(args.get("work-ms", 2.0f64).mul_add(1000.0, 0.0) as u64),
        ..d
    }
}

#[tokio::main]
async fn main() {
    let mut argv = std::env::args().skip(1);
    let command = argv.next().unwrap_or_else(|| "serve".into());
    let args = Args::parse(argv);
    match command.as_str() {
        "serve" => serve(&args).await,
        "load" => {
            let queue = args.get("queue", QueueKind::Bounded);
            let mode = match (args.0.get("rate"), args.0.get("concurrency")) {
                (Some(_), None) => Mode::Open {
                    rate: args.get("rate", 0.0),
                },
                (None, Some(_)) => Mode::Closed {
                    concurrency: args.get("concurrency", 0),
                },
                _ => panic!("give one of --rate R (open loop) or --concurrency C (closed loop)"),
            };
            let run = Run {
                queue,
                mode,
                path: args.get("path", "/jobs".to_string()),
                seconds: args.get("seconds", 10),
                body: args.get("body", 1024),
                connections: args.get("connections", 256),
            };
            let out = run.go().await;
            out.print();
            out.check();
            println!("books agree: accepted = sent = ran, 503s = rejected + abandoned + in-flight refusals");
        }
        "table" => table(args.get("seconds", 10)).await,
        other => panic!("unknown command `{other}`: serve, load or table"),
    }
}

async fn serve(args: &Args) {
    let port: u16 = args.get("port", 8080);
    let config = config(args);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the port");
    let running = service::start(config, listener).expect("start");
    println!("listening on http://{}", running.addr);
    // Ctrl-C stops it from outside; `POST /shutdown` from inside.
    let stop = running.stopper();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            stop();
        }
    });
    let report = running.join().await;
    print_report(&report);
}

fn print_report(r: &service::Report) {
    let s = r.stats.unwrap_or_default();
    println!(
        "report accepted={} ran={} shed_full={} shed_timeout={} shed_in_flight={} \
         sent={} rejected={} abandoned={} job_p50_us={} job_p99_us={} job_max_us={}",
        r.accepted,
        r.ran,
        r.shed_full,
        r.shed_timeout,
        r.shed_in_flight,
        s.sent,
        s.rejected,
        s.abandoned,
        r.job_latency.p50_us,
        r.job_latency.p99_us,
        r.job_latency.max_us,
    );
    assert_eq!(r.ran, r.accepted, "every accepted job ran exactly once");
}

/// One `load` run against a child server.
struct Run {
    queue: QueueKind,
    mode: Mode,
    path: String,
    seconds: u64,
    body: usize,
    connections: usize,
}

/// Both sides' books of a run.
struct Outcome {
    load: LoadResult,
    server: HashMap<String, u64>,
    rss_mb: Vec<f64>,
    /// From `POST /shutdown` to the server's report: the backlog's drain.
    drain: Duration,
    /// Whether the server's queue was the bounded channel.
    bounded: bool,
}

fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

async fn first_line(out: &mut BufReader<ChildStdout>) -> String {
    let mut line = String::new();
    out.read_line(&mut line).await.expect("read the child");
    line
}

impl Run {
    async fn spawn_server(&self) -> (Child, BufReader<ChildStdout>, SocketAddr) {
        let queue = match self.queue {
            QueueKind::Bounded => "bounded",
            QueueKind::Unbounded => "unbounded",
        };
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .args(["serve", "--port", "0", "--queue", queue])
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("start the server");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let line = first_line(&mut out).await;
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .expect("an address");
        (child, out, addr)
    }

    async fn go(&self) -> Outcome {
        let (mut child, mut out, addr) = self.spawn_server().await;
        let pid = child.id().expect("a pid");
        let cfg = LoadConfig {
            addr,
            path: self.path.clone(),
            mode: self.mode,
            duration: Duration::from_secs(self.seconds),
            body_len: self.body,
            connections: self.connections,
        };
        let conns = load::connect(&cfg).await.expect("connect to the server");
        // Let the server settle its connections before the first RSS sample.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (stop_sampling, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let sampler = tokio::spawn(async move {
            let mut rss = vec![];
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => rss.push(rss_kb(pid).unwrap_or(0) as f64 / 1024.0),
                    _ = &mut stopped => break,
                }
            }
            rss.push(rss_kb(pid).unwrap_or(0) as f64 / 1024.0);
            rss
        });
        let load = load::run(cfg, conns).await;
        let _ = stop_sampling.send(());
        let rss_mb = sampler.await.expect("the sampler panicked");
        let drain_start = std::time::Instant::now();
        load::request_once(addr, "POST", "/shutdown")
            .await
            .expect("ask for shutdown");
        // The unbounded queue's drain takes as long as its backlog: minutes at 10x.
        let report = async {
            loop {
                let line = first_line(&mut out).await;
                if line.starts_with("report ") || line.is_empty() {
                    break line;
                }
            }
        };
        let line = tokio::time::timeout(Duration::from_secs(600), report)
            .await
            .expect("the server drained and reported within 10 minutes");
        let drain = drain_start.elapsed();
        let status = child.wait().await.expect("wait for the server");
        assert!(status.success(), "the server failed: {status}");
        let server = line
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_string(), v.parse().ok()?))
            })
            .collect();
        Outcome {
            load,
            server,
            rss_mb,
            drain,
            bounded: self.queue == QueueKind::Bounded,
        }
    }
}

impl Outcome {
    /// Both sides' books agree: the clients' 202s are the jobs the server accepted and
    /// ran, and every 503 is a refusal the server counted.
    fn check(&self) {
        let g = |k: &str| self.server.get(k).copied().unwrap_or(0);
        let l = &self.load;
        assert_eq!(l.errors + l.other, 0, "every request answered 202 or 503");
        assert_eq!(
            l.shed_without_retry_after, 0,
            "every 503 carries Retry-After"
        );
        assert_eq!(
            g("accepted"),
            l.accepted,
            "the server's 202s are the clients'"
        );
        assert_eq!(g("ran"), l.accepted, "every accepted job ran once");
        assert_eq!(
            g("shed_full") + g("shed_timeout") + g("shed_in_flight"),
            l.shed,
            "the server's 503s are the clients'"
        );
        if self.bounded {
            assert_eq!(g("sent"), l.accepted, "sent == accepted");
            assert_eq!(
                g("rejected"),
                g("shed_full"),
                "rejected == the 503s of a full queue"
            );
            assert_eq!(
                g("abandoned"),
                g("shed_timeout"),
                "abandoned == the timed-out waits"
            );
        }
    }

    fn print(&self) {
        let l = &self.load;
        println!(
            "load: sent {} in {:.1} s: accepted {}, shed {} (without Retry-After {}), other {}, errors {}",
            l.sent,
            l.elapsed.as_secs_f64(),
            l.accepted,
            l.shed,
            l.shed_without_retry_after,
            l.other,
            l.errors,
        );
        for (what, lat) in [
            ("accepted", l.accepted_latency),
            ("shed", l.shed_latency),
            ("lateness", l.lateness),
        ] {
            println!(
                "  {what:>8} latency: p50 {} us, p99 {} us, max {} us ({} answers)",
                lat.p50_us, lat.p99_us, lat.max_us, lat.count
            );
        }
        println!("server: {:?}", self.server);
        let rss: Vec<String> = self.rss_mb.iter().map(|mb| format!("{mb:.1}")).collect();
        println!("server RSS (MB) each second: {}", rss.join(" "));
        println!("drain after the load: {:.2} s", self.drain.as_secs_f64());
    }
}

/// The RSS series as `first → middle → last` MB.
fn rss_path(mb: &[f64]) -> String {
    match mb {
        [] => "-".into(),
        _ => format!(
            "{:.1} → {:.1} → {:.1} MB",
            mb[0],
            mb[mb.len() / 2],
            mb[mb.len() - 1]
        ),
    }
}

async fn table(seconds: u64) {
    // The workers' capacity, measured: `sleep(2 ms)` takes longer than 2 ms (tokio's timer
    // ticks each millisecond), so the nominal 2,000 jobs/s is not what 4 workers run.
    let calibration = Run {
        queue: QueueKind::Bounded,
        mode: Mode::Closed { concurrency: 128 },
        path: "/jobs/wait".into(),
        seconds: 3,
        body: 1024,
        connections: 0,
    }
    .go()
    .await;
    let capacity = calibration.load.accepted as f64 / calibration.load.elapsed.as_secs_f64();
    println!(
        "capacity: {capacity:.0} jobs/s (4 workers, 2 ms sleeps; nominal {:.0}), {seconds} s per row",
        Config::default().nominal_capacity()
    );
    println!();
    let rows: [(&str, QueueKind, &str, f64); 7] = [
        ("bounded", QueueKind::Bounded, "/jobs", 1.0),
        ("bounded", QueueKind::Bounded, "/jobs", 3.0),
        ("bounded", QueueKind::Bounded, "/jobs", 10.0),
        ("bounded", QueueKind::Bounded, "/jobs/wait", 3.0),
        ("bounded", QueueKind::Bounded, "/jobs/wait", 10.0),
        ("unbounded", QueueKind::Unbounded, "/jobs", 3.0),
        ("unbounded", QueueKind::Unbounded, "/jobs", 10.0),
    ];
    println!("| queue | route | offered | accepted/s | shed/s | 202 p50 / p99 / max | 503 p50 / p99 / max | job p50 / p99 / max | late p99 | server RSS | drain |");
    println!("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for (name, queue, path, times) in rows {
        let run = Run {
            queue,
            mode: Mode::Open {
                rate: capacity * times,
            },
            path: path.into(),
            seconds,
            body: 1024,
            // `/jobs` answers at once; `/jobs/wait` holds a request up to 50 ms, so 10x
            // its capacity needs ~650 connections. 800 stays under the usual limit of
            // 1,024 open files for both processes.
            connections: if path == "/jobs" { 256 } else { 800 },
        };
        let o = run.go().await;
        o.check();
        let l = &o.load;
        let secs = l.elapsed.as_secs_f64();
        let g = |k: &str| o.server.get(k).copied().unwrap_or(0);
        let ms = |us: u64| us as f64 / 1000.0;
        let three = |l: service::Latency| match l.count {
            0 => "–".to_string(),
            _ => format!(
                "{:.1} / {:.1} / {:.1} ms",
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.max_us)
            ),
        };
        println!(
            "| {name} | `{path}` | {times}× ({:.0}/s) | {:.0} | {:.0} | {} | {} | {:.0} / {:.0} / {:.0} ms | {:.1} ms | {} | {:.1} s |",
            capacity * times,
            l.accepted as f64 / secs,
            l.shed as f64 / secs,
            three(l.accepted_latency),
            three(l.shed_latency),
            ms(g("job_p50_us")),
            ms(g("job_p99_us")),
            ms(g("job_max_us")),
            ms(l.lateness.p99_us),
            rss_path(&o.rss_mb),
            o.drain.as_secs_f64(),
        );
    }
}
