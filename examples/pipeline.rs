//! End-to-end backpressure, watched live: ingest → validate → process → store, joined by
//! small bounded channels, with a gauge per stage redrawn 4 times a second from each
//! channel's `Monitor` (a fill bar, len/capacity, whether the stage is blocked sending,
//! and its throughput).
//!
//! At 3 s the store slows down 8x. Its input queue fills, then `process` blocks sending
//! and its input fills, then `validate`'s, until `ingest` itself waits: the slowdown climbs
//! upstream with no code to make it. At 6 s the store recovers; ingest catches up on
//! the ticks it missed, then the gauges drain. Ingest stops at 9 s, the pipeline empties,
//! and a summary checks that every item ingested was stored (count and checksum).
//!
//! In a terminal the gauges redraw in place (ANSI cursor movement); when stdout is not a
//! terminal (a pipe, a CI log) it prints a legend, then a plain snapshot line twice a
//! second: per stage, `len/cap` of the queue it sends into, `wN` for the N senders waiting
//! for room in that queue (`w1`: the stage is blocked sending; `w0`: it is not), and the
//! items per second it handled since the previous line. The final frame, drawn when the
//! store finishes, shows items per second averaged over the whole run, and says so.
//! Every line fits in 80 columns.
//!
//! Run: `cargo run --release --example pipeline`

use sluicebox::{Monitor, Receiver, Sender, Stats};
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CAPACITY: usize = 24;
/// Ingest's target rate: one item per tick.
const TICK: Duration = Duration::from_millis(5);
const VALIDATE_COST: Duration = Duration::from_millis(1);
const PROCESS_COST: Duration = Duration::from_millis(1);
const STORE_COST: Duration = Duration::from_millis(1);
const STORE_SLOW_COST: Duration = Duration::from_millis(8);
const SLOW_FROM: Duration = Duration::from_millis(3_000);
const SLOW_UNTIL: Duration = Duration::from_millis(6_000);
const INGEST_FOR: Duration = Duration::from_millis(9_000);
const FRAME: Duration = Duration::from_millis(250);
const BAR: usize = 24;

#[derive(Debug)]
struct Record {
    id: u64,
    raw: u64,
}

/// What ingest reads from its source for item `id`.
fn raw_for(id: u64) -> u64 {
    id.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17)
}

/// What `process` makes of a valid record.
fn processed(raw: u64) -> u64 {
    raw.rotate_left(9) ^ 0xA5A5
}

async fn ingest(out: Sender<Record>, start: Instant) -> (u64, u64) {
    let (mut count, mut checksum) = (0u64, 0u64);
    let mut tick = tokio::time::interval(TICK);
    // A source with its own buffer (a socket, a log): ticks missed while we were blocked
    // are caught up afterwards.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while start.elapsed() < INGEST_FOR {
        tick.tick().await;
        let record = Record {
            id: count,
            raw: raw_for(count),
        };
        // Blocks while `validate` is behind: backpressure reaches the source here.
        out.send(record).await.expect("validate alive");
        checksum = checksum.wrapping_add(processed(raw_for(count)));
        count += 1;
    }
    (count, checksum)
}

async fn validate(input: Receiver<Record>, out: Sender<Record>) {
    while let Some(r) = input.recv().await {
        tokio::time::sleep(VALIDATE_COST).await;
        assert_eq!(r.raw, raw_for(r.id), "record {} failed validation", r.id);
        out.send(r).await.expect("process alive");
    }
}

async fn process(input: Receiver<Record>, out: Sender<Record>) {
    while let Some(r) = input.recv().await {
        tokio::time::sleep(PROCESS_COST).await;
        let r = Record {
            id: r.id,
            raw: processed(r.raw),
        };
        out.send(r).await.expect("store alive");
    }
}

async fn store(input: Receiver<Record>, slow: Arc<AtomicU64>) -> (u64, u64) {
    let (mut count, mut checksum) = (0u64, 0u64);
    while let Some(r) = input.recv().await {
        assert_eq!(r.id, count, "one path through the pipeline: FIFO order");
        let cost = if slow.load(Ordering::Relaxed) == 1 {
            STORE_SLOW_COST
        } else {
            STORE_COST
        };
        tokio::time::sleep(cost).await; // the database write
        checksum = checksum.wrapping_add(r.raw);
        count += 1;
    }
    (count, checksum)
}

/// One stage's row: the channel it sends into (none for `store`) and the channel whose
/// `received` total is its throughput.
struct Row {
    name: &'static str,
    out: Option<Monitor<Record>>,
    counted: Monitor<Record>,
    last_total: u64,
}

impl Row {
    fn total(&self, s: &Stats) -> u64 {
        match &self.out {
            Some(_) => s.sent,
            None => s.received,
        }
    }
}

fn bar(s: &Stats) -> String {
    let filled = (s.fill_ratio() * BAR as f64).round() as usize;
    format!("{}{}", "█".repeat(filled), "░".repeat(BAR - filled))
}

/// What the example prints when stdout is not a terminal, before the first snapshot line.
const PLAIN_LEGEND: &str = "\
pipeline: ingest -> validate -> process -> store, a line every 0.5 s.
Per stage: len/cap of the queue it sends into; wN: N senders waiting for
room in that queue (w1: the stage is blocked sending, w0: it is not);
items/s: what it handled since the previous line. store: items/s, total.";

/// The column heads of the plain snapshot lines, aligned with `Frame::plain`.
const PLAIN_HEADS: &str = "    t store      ingest          validate        process         store";

/// One frame, in both views.
struct Frame {
    /// Terminal lines (gauges), without the title line.
    gauges: Vec<String>,
    /// One plain snapshot line.
    plain: String,
}

/// Per channel: the largest len seen, and whether it was seen full with its sender
/// blocked during the slow phase; store throughput per phase as (items, seconds); and
/// the phase in force since the last frame.
#[derive(Default)]
struct Seen {
    phase: usize,
    peak_len: [usize; 3],
    backed_up: [bool; 3],
    store_rate: [(u64, f64); 3],
}

/// Reads every channel once and formats both views. `dt` is the time since the last frame:
/// the rates shown are over that interval, or over the whole run (`t`) when `whole_run`.
fn frame(
    rows: &mut [Row; 4],
    t: Duration,
    phase: usize,
    dt: f64,
    whole_run: bool,
    seen: &mut Seen,
) -> Frame {
    let mut gauges = vec![
        "  (each bar: the queue a stage sends into; BLOCKED: the stage waits for room)".to_string(),
    ];
    let mut plain = format!(
        "{:>4.1}s {:<10}",
        t.as_secs_f64(),
        ["normal", "SLOW", "recovered"][phase]
    );
    for (i, row) in rows.iter_mut().enumerate() {
        let counted = row.counted.stats();
        let total = row.total(&counted);
        let delta = total - row.last_total;
        let (n, secs) = if whole_run {
            (total, t.as_secs_f64())
        } else {
            (delta, dt)
        };
        let rate = if secs > 0.0 { n as f64 / secs } else { 0.0 };
        row.last_total = total;
        match &row.out {
            Some(out) => {
                let s = out.stats();
                seen.peak_len[i] = seen.peak_len[i].max(s.len);
                if seen.phase == 1 && s.len == s.capacity && s.senders_waiting > 0 {
                    seen.backed_up[i] = true;
                }
                gauges.push(format!(
                    "  {:<8} → ▕{}▏ {:>2}/{}  {}  {:>4.0} items/s",
                    row.name,
                    bar(&s),
                    s.len,
                    s.capacity,
                    if s.senders_waiting > 0 {
                        "BLOCKED"
                    } else {
                        "       "
                    },
                    rate
                ));
                plain += &format!(
                    " {:>2}/{} w{} {:>4.0}/s",
                    s.len, s.capacity, s.senders_waiting, rate
                );
            }
            None => {
                seen.store_rate[seen.phase].0 += delta;
                seen.store_rate[seen.phase].1 += dt;
                gauges.push(format!(
                    "  {:<8}   stored {:>5}{:>pad$}{:>4.0} items/s",
                    row.name,
                    total,
                    "",
                    rate,
                    pad = BAR + 15
                ));
                plain += &format!(" {rate:>4.0}/s {total:>5}");
            }
        }
    }
    Frame { gauges, plain }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (to_validate, validate_in) = sluicebox::bounded::<Record>(CAPACITY);
    let (to_process, process_in) = sluicebox::bounded::<Record>(CAPACITY);
    let (to_store, store_in) = sluicebox::bounded::<Record>(CAPACITY);
    let gauges = [&to_validate, &to_process, &to_store].map(|tx| tx.monitor());
    let mut rows = [
        ("ingest", Some(0), 0),
        ("validate", Some(1), 0),
        ("process", Some(2), 1),
        ("store", None, 2),
    ]
    .map(|(name, out, counted)| Row {
        name,
        out: out.map(|i: usize| gauges[i].clone()),
        counted: gauges[counted].clone(),
        last_total: 0,
    });

    let tty = std::io::stdout().is_terminal();
    if !tty {
        println!("{PLAIN_LEGEND}\n{PLAIN_HEADS}");
    }

    let slow = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let ingest = tokio::spawn(ingest(to_validate, start));
    let validate = tokio::spawn(validate(validate_in, to_process));
    let process = tokio::spawn(process(process_in, to_store));
    let mut store = tokio::spawn(store(store_in, slow.clone()));
    let mut stored_result = None;

    // A terminal redraws 4 times a second; a log gets a line every 0.5 s. The first frame
    // comes one period in, so every rate covers a whole period; a frame that comes late is
    // skipped, not caught up in a burst of near-empty intervals.
    let period = if tty { FRAME } else { FRAME * 2 };
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_frame = start;
    let mut drawn_lines = 0;
    let mut seen = Seen::default();
    let phase_at = |t: Duration| {
        if t < SLOW_FROM {
            0
        } else if t < SLOW_UNTIL {
            1
        } else {
            2
        }
    };

    loop {
        // The frame drawn when the store finishes is the final one. The interval since the
        // previous frame may be a few milliseconds then, so it shows averages over the
        // whole run instead.
        tokio::select! {
            _ = ticks.tick() => {}
            r = &mut store, if stored_result.is_none() => stored_result = Some(r.unwrap()),
        }
        let done = stored_result.is_some();
        let t = start.elapsed();
        let phase = phase_at(t);
        slow.store(u64::from(phase == 1), Ordering::Relaxed);
        let dt = last_frame.elapsed().as_secs_f64();
        last_frame = Instant::now();
        let f = frame(&mut rows, t, phase, dt, done, &mut seen);
        seen.phase = phase;

        let mut out = std::io::stdout().lock();
        if tty {
            let title = if done {
                format!(
                    "pipeline  t={:4.1}s  finished; items/s averaged over the whole run",
                    t.as_secs_f64()
                )
            } else {
                format!(
                    "pipeline  t={:4.1}s  store: {}",
                    t.as_secs_f64(),
                    [
                        "normal, 1 ms/item",
                        "SLOW, 8 ms/item",
                        "recovered, 1 ms/item"
                    ][phase]
                )
            };
            if drawn_lines > 0 {
                // Back to the top of the previous frame, then overwrite it line by line.
                write!(out, "\x1b[{drawn_lines}A").unwrap();
            }
            for line in std::iter::once(&title).chain(&f.gauges) {
                writeln!(out, "\x1b[2K{line}").unwrap();
            }
            drawn_lines = 1 + f.gauges.len();
        } else {
            if done {
                writeln!(out, "finished; items/s averaged over the whole run:").unwrap();
            }
            writeln!(out, "{}", f.plain).unwrap();
        }
        out.flush().unwrap();
        if done {
            break;
        }
    }

    let (ingested, sent_sum) = ingest.await.unwrap();
    validate.await.unwrap();
    process.await.unwrap();
    let (stored, stored_sum) = stored_result.expect("the loop ends when the store does");
    let elapsed = last_frame.duration_since(start).as_secs_f64();
    let Seen {
        peak_len,
        backed_up,
        store_rate,
        ..
    } = seen;

    println!();
    println!("summary: ingested {ingested}, stored {stored}, dropped 0, in {elapsed:.1} s");
    println!("  checksum {stored_sum:#018x}, the same as the items ingested");
    println!("  backed up: seen full, its sender blocked, while the store was slow");
    println!("  (rejected: try_send refused; abandoned: a waiting send given up, e.g. timed out)");
    println!("  queue into  peak   backed up     sent  received  rejected  abandoned");
    for (i, name) in ["validate", "process", "store"].iter().enumerate() {
        let s = gauges[i].stats();
        println!(
            "  {name:<10} {:>2}/{}   {:<9} {:>8} {:>9} {:>9} {:>10}",
            peak_len[i],
            s.capacity,
            if backed_up[i] { "yes" } else { "no" },
            s.sent,
            s.received,
            s.rejected,
            s.abandoned
        );
    }
    let per_s = |(n, secs): (u64, f64)| n as f64 / secs;
    println!(
        "  store items/s: {:.0} normal, {:.0} slow, {:.0} recovered (ingest target {:.0})",
        per_s(store_rate[0]),
        per_s(store_rate[1]),
        per_s(store_rate[2]),
        1.0 / TICK.as_secs_f64()
    );

    // The claims.
    assert_eq!(stored, ingested, "every item ingested was stored");
    assert_eq!(stored_sum, sent_sum, "checksum");
    for (i, g) in gauges.iter().enumerate() {
        let s = g.stats();
        assert!(peak_len[i] <= CAPACITY, "queue {i} exceeded its capacity");
        assert_eq!((s.sent, s.received, s.len), (ingested, ingested, 0));
        // Backpressure, not shedding: nothing refused, evicted or given up.
        assert_eq!((s.rejected, s.evicted, s.abandoned), (0, 0, 0));
        assert!(s.closed && s.senders == 0 && s.receivers == 0);
    }
    // The store's slowdown climbed all the way up to ingest.
    assert!(
        backed_up.iter().all(|&b| b),
        "backpressure should have filled every queue: {backed_up:?}"
    );
    assert!(
        per_s(store_rate[1]) < per_s(store_rate[0]),
        "the slow store should have been slower"
    );
    println!("ok: the slowdown propagated upstream and drained; nothing was lost");
}
