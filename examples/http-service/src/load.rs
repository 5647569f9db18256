//! A load generator for the service, over loopback only.
//!
//! - **Open loop** ([`Mode::Open`]): requests are due at a fixed rate whatever the
//!   answers. Each is timed from when it was *due*, not from when a connection was free to
//!   send it, so a slow server is charged for the requests it delayed (no coordinated
//!   omission). Up to [`LoadConfig::connections`] keep-alive connections carry them.
//! - **Closed loop** ([`Mode::Closed`]): `n` connections, each sending its next request
//!   as soon as the last is answered.
//!
//! Its HTTP/1.1 client is a few lines over a `TcpStream`: one request at a time per
//! connection, `Content-Length` bodies (what the service sends), reconnecting for the
//! next request after a failed one (a failed request is counted, never resent).

use crate::service::{micros_histogram, Latency};
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// How requests are paced.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// `rate` requests per second, due on a fixed schedule.
    Open {
        /// Requests per second.
        rate: f64,
    },
    /// `concurrency` connections, each with one request outstanding.
    Closed {
        /// Connections.
        concurrency: usize,
    },
}

/// One load run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The service.
    pub addr: SocketAddr,
    /// `/jobs` or `/jobs/wait`.
    pub path: String,
    /// Pacing.
    pub mode: Mode,
    /// How long to send for.
    pub duration: Duration,
    /// Request body size in bytes.
    pub body_len: usize,
    /// Open loop: connections at most.
    pub connections: usize,
}

/// What a load run saw.
#[derive(Debug)]
pub struct LoadResult {
    /// Requests answered (any status) plus requests that failed.
    pub sent: u64,
    /// 202 answers.
    pub accepted: u64,
    /// 503 answers.
    pub shed: u64,
    /// 503 answers without a `Retry-After` header.
    pub shed_without_retry_after: u64,
    /// Other statuses.
    pub other: u64,
    /// Requests that failed at the connection (counted in `sent`).
    pub errors: u64,
    /// The job ids the 202 answers carried.
    pub accepted_ids: Vec<u64>,
    /// Latency of 202 answers, microseconds.
    pub accepted_latency: Latency,
    /// Latency of 503 answers, microseconds.
    pub shed_latency: Latency,
    /// How late requests went out after they were due: the timer's tick (1 ms), and the
    /// generator's own connections all being busy. Part of both latencies above.
    pub lateness: Latency,
    /// Wall time of the run.
    pub elapsed: Duration,
}

/// An answer: status, whether `Retry-After` was present, body.
pub struct Answer {
    /// HTTP status code.
    pub status: u16,
    /// Whether the answer had a `Retry-After` header.
    pub retry_after: bool,
    /// The body.
    pub body: Vec<u8>,
}

/// One keep-alive HTTP/1.1 connection.
pub struct Conn {
    stream: BufReader<TcpStream>,
    line: String,
}

impl Conn {
    /// Connects to `addr`.
    pub async fn connect(addr: SocketAddr) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
            line: String::new(),
        })
    }

    /// Sends one request and reads its answer.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> std::io::Result<Answer> {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nhost: loopback\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes()).await?;
        s.write_all(body).await?;
        let bad =
            |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let status: u16 = self
            .line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("status line"))?;
        let mut len = None;
        let mut retry_after = false;
        loop {
            self.line.clear();
            if self.stream.read_line(&mut self.line).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            let line = self.line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').ok_or_else(|| bad("header"))?;
            if name.eq_ignore_ascii_case("content-length") {
                len = Some(
                    value
                        .trim()
                        .parse::<usize>()
                        .map_err(|_| bad("content-length"))?,
                );
            } else if name.eq_ignore_ascii_case("retry-after") {
                retry_after = true;
            }
        }
        let mut body = vec![0; len.ok_or_else(|| bad("no content-length"))?];
        self.stream.read_exact(&mut body).await?;
        Ok(Answer {
            status,
            retry_after,
            body,
        })
    }
}

/// One request, on a fresh connection.
pub async fn request_once(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<Answer> {
    Conn::connect(addr).await?.request(method, path, b"").await
}

/// What one connection task saw.
struct Tally {
    sent: u64,
    accepted: u64,
    shed: u64,
    shed_without_retry_after: u64,
    other: u64,
    errors: u64,
    lateness: Histogram<u64>,
    ids: Vec<u64>,
    accepted_latency: Histogram<u64>,
    shed_latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        Self {
            sent: 0,
            accepted: 0,
            shed: 0,
            shed_without_retry_after: 0,
            other: 0,
            errors: 0,
            lateness: micros_histogram(),
            ids: Vec::new(),
            accepted_latency: micros_histogram(),
            shed_latency: micros_histogram(),
        }
    }

    fn merge(&mut self, other: Tally) {
        self.sent += other.sent;
        self.accepted += other.accepted;
        self.shed += other.shed;
        self.shed_without_retry_after += other.shed_without_retry_after;
        self.other += other.other;
        self.errors += other.errors;
        self.lateness.add(&other.lateness).expect("same bounds");
        self.ids.extend(other.ids);
        self.accepted_latency
            .add(&other.accepted_latency)
            .expect("same bounds");
        self.shed_latency
            .add(&other.shed_latency)
            .expect("same bounds");
    }
}

/// Sends one request timed from `due` (connecting first if the last request failed).
/// Returns false when the server cannot be reached any more (it shut down).
async fn one(
    conn: &mut Option<Conn>,
    cfg: &LoadConfig,
    body: &[u8],
    due: Instant,
    t: &mut Tally,
) -> bool {
    t.sent += 1;
    t.lateness
        .saturating_record(due.elapsed().as_micros() as u64);
    if conn.is_none() {
        match Conn::connect(cfg.addr).await {
            Ok(c) => *conn = Some(c),
            Err(_) => {
                t.errors += 1;
                return false;
            }
        }
    }
    // Never sent again on a failure: the server may have queued the job already. The
    // failure counts as an error, and the next request reconnects.
    let answer = match conn
        .as_mut()
        .unwrap()
        .request("POST", &cfg.path, body)
        .await
    {
        Ok(a) => Some(a),
        Err(_) => {
            *conn = None;
            None
        }
    };
    let micros = due.elapsed().as_micros() as u64;
    match answer {
        None => t.errors += 1,
        Some(a) if a.status == 202 => {
            t.accepted += 1;
            t.accepted_latency.saturating_record(micros);
            let id = std::str::from_utf8(&a.body)
                .ok()
                .and_then(|s| s.trim().parse().ok());
            t.ids.push(id.expect("a 202 answer carries the job id"));
        }
        Some(a) if a.status == 503 => {
            t.shed += 1;
            t.shed_latency.saturating_record(micros);
            if !a.retry_after {
                t.shed_without_retry_after += 1;
            }
        }
        Some(_) => t.other += 1,
    }
    true
}

/// Opens the run's connections, 32 at a time, so that the run does not start with a
/// burst of connects (which overflows the listen backlog and costs a 1 s SYN retry), and
/// sends one `GET /metrics` on each, so that the server has set up every connection
/// before the clock starts.
pub async fn connect(cfg: &LoadConfig) -> std::io::Result<Vec<Conn>> {
    let n = match cfg.mode {
        Mode::Open { .. } => cfg.connections,
        Mode::Closed { concurrency } => concurrency,
    };
    let mut conns = Vec::with_capacity(n);
    while conns.len() < n {
        let batch = (n - conns.len()).min(32);
        let opened: Vec<_> = (0..batch)
            .map(|_| {
                let addr = cfg.addr;
                tokio::spawn(async move {
                    let mut conn = Conn::connect(addr).await?;
                    conn.request("GET", "/metrics", b"").await?;
                    Ok::<_, std::io::Error>(conn)
                })
            })
            .collect();
        for c in opened {
            conns.push(c.await.expect("connect task panicked")?);
        }
    }
    Ok(conns)
}

/// Runs one load over connections from [`connect`]: see the module docs.
pub async fn run(cfg: LoadConfig, conns: Vec<Conn>) -> LoadResult {
    let start = Instant::now();
    let end = start + cfg.duration;
    let body: Arc<[u8]> = vec![b'x'; cfg.body_len].into();
    let ticket = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = conns
        .into_iter()
        .map(|conn| {
            let cfg = cfg.clone();
            let body = body.clone();
            let ticket = ticket.clone();
            tokio::spawn(async move {
                let mut t = Tally::new();
                let mut conn = Some(conn);
                loop {
                    let due = match cfg.mode {
                        Mode::Open { rate } => {
                            let i = ticket.fetch_add(1, Ordering::Relaxed);
                            let due = start + Duration::from_secs_f64(i as f64 / rate);
                            if due >= end {
                                break;
                            }
                            tokio::time::sleep_until(due).await;
                            due
                        }
                        Mode::Closed { .. } => {
                            let now = Instant::now();
                            if now >= end {
                                break;
                            }
                            now
                        }
                    };
                    if !one(&mut conn, &cfg, &body, due, &mut t).await {
                        break;
                    }
                }
                t
            })
        })
        .collect();
    let mut total = Tally::new();
    for h in handles {
        total.merge(h.await.expect("a load task panicked"));
    }
    LoadResult {
        sent: total.sent,
        accepted: total.accepted,
        shed: total.shed,
        shed_without_retry_after: total.shed_without_retry_after,
        other: total.other,
        errors: total.errors,
        accepted_ids: total.ids,
        accepted_latency: Latency::of(&total.accepted_latency),
        shed_latency: Latency::of(&total.shed_latency),
        lateness: Latency::of(&total.lateness),
        elapsed: start.elapsed(),
    }
}
