//! Overload and resource limits against a real `weir serve`: `max.connections.per.ip` closes the
//! extra connection, `max.connections` holds new ones until a place frees, and
//! `queued.max.request.bytes` keeps memory bounded while producers push more than the broker
//! can take: it stops reading, latency grows, nothing fails.

mod support;

use std::io::Write;
use std::time::{Duration, Instant};

use kafka_protocol::messages::{ApiVersionsRequest, ProduceRequest};
use support::admin::{scrape, value};
use support::broker::Broker;
use support::kafka::{create_topic, wait_until};
use support::wire::{produce_request, Wire};

fn api_versions_ok(wire: &mut Wire) -> bool {
    wire.request(0, &ApiVersionsRequest::default()).error_code == 0
}

/// Two connections, each answered once (after the start-up probe's connection has gone: it
/// counts against the limits too).
fn two_served_connections(broker: &Broker) -> (Wire, Wire) {
    // The harness's readiness probe is a connection too: wait until the broker has accepted
    // it and seen it close, or it may take a place of the two under test.
    wait_until(
        "the readiness probe accepted and closed",
        Duration::from_secs(10),
        || {
            let metrics = scrape(broker.admin_port);
            over_shards(&metrics, "weir_connections_accepted_total") >= 1.0
                && over_shards(&metrics, "weir_connections") == 0.0
        },
    );
    let mut first = Wire::connect(&broker.bootstrap());
    let mut second = Wire::connect(&broker.bootstrap());
    assert!(api_versions_ok(&mut first) && api_versions_ok(&mut second));
    (first, second)
}

/// A per-shard series summed over both shards.
fn over_shards(metrics: &str, name: &str) -> f64 {
    (0..2)
        .filter_map(|shard| value(metrics, &format!("{name}{{shard=\"{shard}\"}}")))
        .sum()
}

#[test]
fn max_connections_per_ip_closes_the_extra_connection() {
    let broker = Broker::start_with(&["max.connections.per.ip=2"]);
    let (first, mut second) = two_served_connections(&broker);

    let mut third = Wire::connect(&broker.bootstrap());
    assert!(
        third.is_closed(),
        "a third connection from 127.0.0.1 is closed"
    );
    assert!(broker.log().contains("rejecting connection"));
    assert!(broker.log().contains("max.connections.per.ip"));
    let metrics = scrape(broker.admin_port);
    let refused = over_shards(&metrics, "weir_connections_refused_total");
    assert_eq!(refused, 1.0, "{metrics}");

    // A closed connection gives its place back.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = Wire::connect(&broker.bootstrap());
        let frame = again.frame(0, &ApiVersionsRequest::default());
        again.send_raw(&frame);
        if again.read_frame().is_some() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the freed place was not given back"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(api_versions_ok(&mut second));
}

#[test]
fn max_connections_holds_new_connections_until_one_closes() {
    let broker = Broker::start_with(&["max.connections=2"]);
    let (first, mut second) = two_served_connections(&broker);

    // The third connects (the listen backlog takes it) but is not served, as Kafka's acceptor
    // stops accepting at the limit.
    let mut third = Wire::connect(&broker.bootstrap());
    let mut writer = third.writer();
    writer
        .set_read_timeout(Some(Duration::from_millis(1_000)))
        .unwrap();
    let frame = third.frame(0, &ApiVersionsRequest::default());
    writer.write_all(&frame).unwrap();
    let mut probe = [0u8; 1];
    let waited = std::io::Read::read(&mut writer, &mut probe);
    assert!(
        waited.is_err(),
        "the third connection was answered while two were open: {waited:?}"
    );
    assert!(broker.log().contains("max.connections reached"));

    drop(first);
    // Served now: the answer to the request it sent while waiting (its first byte was not
    // consumed above, as the read timed out).
    let started = Instant::now();
    let response = third.read_frame().expect("answered once a place freed");
    assert!(response.len() > 8);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(api_versions_ok(&mut second));
}

const TOPIC: &str = "flood";
const PRODUCERS: usize = 6;
const REQUESTS_PER_PRODUCER: usize = 40;
const RECORDS_PER_REQUEST: usize = 500;
/// 500 records of 1,000 bytes: ~0.5 MB per request, 120 MB in all.
const VALUE_BYTES: usize = 1_000;
const QUEUED_MAX_REQUEST_BYTES: u64 = 4 << 20;

/// Peak and current resident memory of a process, in KiB (/proc/PID/status).
fn memory_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[test]
fn queued_max_request_bytes_bounds_memory_when_producers_outrun_the_broker() {
    let broker = Broker::start_with(&[&format!(
        "queued.max.request.bytes={QUEUED_MAX_REQUEST_BYTES}"
    )]);
    create_topic(&broker.bootstrap(), TOPIC, PRODUCERS as i32);
    let (peak_before, _) = memory_kib(broker.pid());
    let batch = weir::record::batch_of(RECORDS_PER_REQUEST, VALUE_BYTES, 1_000);
    let sent_bytes = batch.len() * PRODUCERS * REQUESTS_PER_PRODUCER;

    // Each producer writes all its acks=all requests at once, without waiting for answers:
    // far more than the broker takes in before its fsyncs complete.
    let started = Instant::now();
    let producers: Vec<_> = (0..PRODUCERS)
        .map(|partition| {
            let bootstrap = broker.bootstrap();
            let batch = batch.clone();
            std::thread::spawn(move || {
                let mut wire = Wire::connect(&bootstrap);
                let first_id = wire.next_correlation_id();
                let frames: Vec<Vec<u8>> = (0..REQUESTS_PER_PRODUCER)
                    .map(|_| {
                        wire.frame(
                            7,
                            &produce_request(TOPIC, partition as i32, batch.clone(), -1),
                        )
                    })
                    .collect();
                let mut writer = wire.writer();
                let sending = std::thread::spawn(move || {
                    for frame in frames {
                        writer.write_all(&frame).expect("send a produce request");
                    }
                });
                let mut slowest = Duration::ZERO;
                let mut last = Instant::now();
                for i in 0..REQUESTS_PER_PRODUCER {
                    let response = wire.read_response::<ProduceRequest>(7, first_id + i as i32);
                    let p = &response.responses[0].partition_responses[0];
                    assert_eq!(p.error_code, 0, "request {i} of partition {partition}");
                    assert_eq!(p.base_offset, (i * RECORDS_PER_REQUEST) as i64);
                    slowest = slowest.max(last.elapsed());
                    last = Instant::now();
                }
                sending.join().expect("sender");
                slowest
            })
        })
        .collect();
    let slowest: Vec<Duration> = producers
        .into_iter()
        .map(|p| p.join().expect("producer"))
        .collect();
    let took = started.elapsed();

    let (peak_after, rss_after) = memory_kib(broker.pid());
    let metrics = scrape(broker.admin_port);
    let waits = over_shards(&metrics, "weir_request_memory_waits_total");
    let growth_mib = (peak_after.saturating_sub(peak_before)) as f64 / 1024.0;
    eprintln!(
        "{} MiB in {took:?}; broker peak RSS {:.0} -> {:.0} MiB (+{growth_mib:.1}), now {:.0} MiB; \
         {waits} reads waited for request memory; slowest answer gap {:?}",
        sent_bytes >> 20,
        peak_before as f64 / 1024.0,
        peak_after as f64 / 1024.0,
        rss_after as f64 / 1024.0,
        slowest.iter().max()
    );
    assert!(waits > 0.0, "the bound was never reached: {metrics}");
    // Everything a shard holds of requests is bounded by queued.max.request.bytes (4 MiB per
    // shard), each connection's read buffer and the logs' own buffers. Measured here: +34 MiB
    // with the bound, +71 MiB without it (queued.max.request.bytes=-1), for 116 MiB pushed.
    assert!(
        growth_mib < 50.0,
        "peak RSS grew by {growth_mib:.1} MiB while {} MiB were pushed",
        sent_bytes >> 20
    );
    for shard in 0..2 {
        assert_eq!(
            value(
                &metrics,
                &format!("weir_request_memory_bytes{{shard=\"{shard}\"}}")
            ),
            Some(0.0),
            "every request answered gives its memory back"
        );
    }
}
