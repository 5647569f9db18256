//! The `prometheus` feature's collector, scraped through `prometheus_client`'s text
//! encoder: names, types, help, labels and values follow the channels and semaphores.
//! Run with `cargo test --features prometheus --test prometheus`.
#![cfg(feature = "prometheus")]

use prometheus_client::{encoding::text::encode, registry::Registry};
use sluicebox::{bounded, prometheus::Collector, Semaphore, StaticChannel};
use std::collections::HashMap;
use std::sync::Arc;

/// Parses an OpenMetrics text page into `name{labels}` -> value, and `name` -> type,
/// checking every line is a comment, a sample or the final `# EOF`.
fn parse(page: &str) -> (HashMap<String, f64>, HashMap<String, String>) {
    let (mut samples, mut types) = (HashMap::new(), HashMap::new());
    let lines: Vec<&str> = page.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "page ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, ty) = rest.split_once(' ').expect("# TYPE name type");
            types.insert(name.to_string(), ty.to_string());
        } else if line.starts_with("# HELP ") || line.starts_with("# UNIT ") {
        } else {
            let (key, value) = line.rsplit_once(' ').expect("sample: name{labels} value");
            assert!(
                key.ends_with('}') && key.contains("{"),
                "labelled sample: {line}"
            );
            samples.insert(key.to_string(), value.parse::<f64>().expect("a number"));
        }
    }
    (samples, types)
}

fn scrape(registry: &Registry) -> (HashMap<String, f64>, HashMap<String, String>) {
    let mut page = String::new();
    encode(&mut page, registry).unwrap();
    parse(&page)
}

#[test]
fn prometheus_collector_reports_channels_and_semaphores_on_scrape() {
    static EVENTS: StaticChannel<&'static str, 2> = StaticChannel::new();
    static POOL: Semaphore = Semaphore::new(3);
    let (jobs, jobs_rx) = bounded::<Vec<u8>>(4);
    let workers = Arc::new(Semaphore::new(2));
    let (events, _events_rx) = EVENTS.split();
    let mut registry = Registry::default();
    registry.register_collector(Box::new(
        Collector::new()
            .channel("jobs", jobs.monitor().erase())
            .channel("events", EVENTS.monitor().erase())
            .semaphore("workers", workers.clone())
            .static_semaphore("pool", &POOL),
    ));

    let (s, types) = scrape(&registry);
    assert_eq!(s["sluicebox_channel_capacity{channel=\"jobs\"}"], 4.0);
    assert_eq!(s["sluicebox_channel_capacity{channel=\"events\"}"], 2.0);
    assert_eq!(s["sluicebox_channel_items{channel=\"jobs\"}"], 0.0);
    assert_eq!(types["sluicebox_channel_items"], "gauge");
    assert_eq!(types["sluicebox_channel_sent"], "counter");
    assert!(s.contains_key("sluicebox_channel_sent_total{channel=\"jobs\"}"));

    for i in 0..4 {
        jobs.try_send(vec![i]).unwrap();
    }
    assert!(jobs.try_send(vec![9]).is_err());
    events.try_send("a").unwrap();
    jobs_rx.try_recv().unwrap();
    let permit = jobs.clone().try_reserve_owned().unwrap();
    let _held = workers.try_acquire().unwrap();
    let _p = POOL.try_acquire_many(2).unwrap();

    let (s, _) = scrape(&registry);
    assert_eq!(s["sluicebox_channel_items{channel=\"jobs\"}"], 3.0);
    assert_eq!(s["sluicebox_channel_reserved{channel=\"jobs\"}"], 1.0);
    assert_eq!(s["sluicebox_channel_sent_total{channel=\"jobs\"}"], 4.0);
    assert_eq!(s["sluicebox_channel_received_total{channel=\"jobs\"}"], 1.0);
    assert_eq!(s["sluicebox_channel_rejected_total{channel=\"jobs\"}"], 1.0);
    assert_eq!(s["sluicebox_channel_items{channel=\"events\"}"], 1.0);
    assert_eq!(s["sluicebox_channel_closed{channel=\"jobs\"}"], 0.0);
    assert_eq!(
        s["sluicebox_semaphore_available_permits{semaphore=\"workers\"}"],
        1.0
    );
    assert_eq!(
        s["sluicebox_semaphore_available_permits{semaphore=\"pool\"}"],
        1.0
    );
    assert_eq!(s["sluicebox_semaphore_waiters{semaphore=\"pool\"}"], 0.0);

    // The collector keeps a heap channel's memory, not the channel: handles gone, it
    // reports the final state.
    drop((jobs, jobs_rx, permit));
    let (s, _) = scrape(&registry);
    assert_eq!(s["sluicebox_channel_closed{channel=\"jobs\"}"], 1.0);
    assert_eq!(s["sluicebox_channel_items{channel=\"jobs\"}"], 0.0);
}
