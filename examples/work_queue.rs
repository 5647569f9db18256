//! Strategy 4, cap the work in flight: a dispatcher takes jobs from a bounded channel and
//! runs each in its own task, but only after it holds a permit from a `Semaphore` of 4
//! (a heavy job takes 2 with `acquire_many_owned`). The permit travels with the task and
//! is released when the job ends. While 4 permits are out the dispatcher waits, the job
//! channel fills, and the submitter waits in `send`: backpressure from the workers back to
//! the source. A high-water counter proves the cap held.
//!
//! Run: `cargo run --release --example work_queue`

use sluicebox::Semaphore;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const MAX_IN_FLIGHT: usize = 4;
const JOBS: u64 = 40;
const JOB_TIME: Duration = Duration::from_millis(30);

struct Job {
    id: u64,
    /// Permits the job needs: every fifth job is heavy.
    weight: usize,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (tx, rx) = sluicebox::bounded::<Job>(4);
    let queue = tx.monitor();
    let sem = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    // Permit-weighted work running now, and the most ever seen.
    let in_flight = Arc::new(AtomicUsize::new(0));
    let high_water = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();

    let submitter = tokio::spawn(async move {
        let mut peak_len = 0;
        for id in 0..JOBS {
            let weight = if id % 5 == 4 { 2 } else { 1 };
            tx.send(Job { id, weight }).await.expect("dispatcher alive");
            peak_len = peak_len.max(tx.len());
        }
        (start.elapsed(), peak_len)
    });

    let dispatcher = {
        let (sem, in_flight, high_water) = (sem.clone(), in_flight.clone(), high_water.clone());
        tokio::spawn(async move {
            let mut running = Vec::new();
            while let Some(job) = rx.recv().await {
                // Waits while the cap is reached: this is the backpressure.
                let permit = sem
                    .clone()
                    .acquire_many_owned(job.weight)
                    .await
                    .expect("never closed");
                let (in_flight, high_water) = (in_flight.clone(), high_water.clone());
                running.push(tokio::spawn(async move {
                    let now = in_flight.fetch_add(job.weight, Ordering::SeqCst) + job.weight;
                    high_water.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(JOB_TIME).await; // the work
                    in_flight.fetch_sub(job.weight, Ordering::SeqCst);
                    drop(permit); // the slot is free again
                    job.id * 2
                }));
            }
            let (mut done, mut checksum) = (0u64, 0u64);
            for task in running {
                checksum += task.await.unwrap();
                done += 1;
            }
            (done, checksum)
        })
    };

    // Watch the three gauges while it runs.
    while !dispatcher.is_finished() {
        let q = queue.stats();
        println!(
            "[{:>3} ms] running {}/{MAX_IN_FLIGHT} permits  free {}  dispatcher waiting {}  \
             queue {}/{}  submitter waiting {}",
            start.elapsed().as_millis(),
            in_flight.load(Ordering::SeqCst),
            sem.available_permits(),
            sem.waiting(),
            q.len,
            q.capacity,
            q.senders_waiting
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
    }

    let (submit_time, peak_len) = submitter.await.unwrap();
    let (done, checksum) = dispatcher.await.unwrap();
    let elapsed = start.elapsed();
    let high = high_water.load(Ordering::SeqCst);
    let total_weight: u64 = (0..JOBS).map(|id| if id % 5 == 4 { 2 } else { 1 }).sum();
    println!(
        "jobs submitted {JOBS}, completed {done}, dropped 0; high water {high} of \
         {MAX_IN_FLIGHT} permits; peak queue length {peak_len} of 4"
    );
    println!(
        "submitting took {} ms (held back by the cap); all done in {} ms",
        submit_time.as_millis(),
        elapsed.as_millis()
    );

    // The claims.
    assert_eq!(done, JOBS, "every job ran");
    assert_eq!(
        checksum,
        (0..JOBS).map(|id| id * 2).sum::<u64>(),
        "checksum"
    );
    assert!(high <= MAX_IN_FLIGHT, "high water {high} exceeded the cap");
    assert_eq!(high, MAX_IN_FLIGHT, "the cap should have been reached");
    assert_eq!(
        sem.available_permits(),
        MAX_IN_FLIGHT,
        "every permit came back"
    );
    assert!(peak_len <= 4, "queue length {peak_len} exceeded 4");
    // With at most MAX_IN_FLIGHT units of work at a time, the whole run can't beat this.
    let floor = JOB_TIME * (total_weight as u32 / MAX_IN_FLIGHT as u32);
    assert!(
        elapsed >= floor,
        "{elapsed:?} is faster than the cap allows ({floor:?})"
    );
    println!("ok: never more than {MAX_IN_FLIGHT} permits of work ran at once");
}
