//! SIGTERM/SIGINT against a real `weir serve`: it stops accepting, answers the requests it has
//! read (a Fetch long poll, acks=all produce requests), flushes and closes its logs, exits 0
//! within `shutdown.timeout.ms`, and the next start finds every acknowledged record without a
//! recovery scan (the clean-shutdown marker).

mod support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::{FetchRequest, GroupId, JoinGroupRequest};
use kafka_protocol::protocol::StrBytes;
use support::broker::Broker;
use support::kafka::{create_topic, wait_until};
use support::load::{read_partition, LoadProducer, RecordId};
use support::wire::{fetch_request, Wire};

const PARTITIONS: i32 = 3;

#[test]
fn sigterm_under_acks_all_load_keeps_every_ack_and_needs_no_recovery_scan() {
    let mut broker = Broker::start();
    create_topic(&broker.bootstrap(), "orders", PARTITIONS);
    let producer = LoadProducer::start(&broker.bootstrap(), "orders", PARTITIONS, 1);
    wait_until(
        "2,000 acknowledged records",
        Duration::from_secs(60),
        || producer.acked() >= 2_000,
    );

    let took = broker.terminate();
    let outcome = producer.stop_now();
    assert_eq!(outcome.fatal, None, "the idempotent producer failed");
    assert!(took < Duration::from_secs(10), "SIGTERM took {took:?}");
    let log = broker.log();
    assert!(log.contains("logs flushed and closed"), "{log}");
    assert!(!log.contains("shutdown.timeout.ms passed"), "{log}");

    broker.relaunch();
    let opened: Vec<String> = broker
        .last_run_log()
        .lines()
        .filter(|line| line.contains("partition log opened") && line.contains("orders"))
        .map(str::to_string)
        .collect();
    assert_eq!(opened.len(), PARTITIONS as usize, "{opened:?}");
    for line in &opened {
        assert!(
            line.contains("recovery_scanned_bytes=0"),
            "scanned after SIGTERM: {line}"
        );
    }

    let stored: Vec<_> = (0..PARTITIONS)
        .map(|p| read_partition(&broker.bootstrap(), "orders", p))
        .collect();
    for ack in &outcome.acks {
        let value = stored[ack.partition as usize]
            .get(&ack.offset)
            .unwrap_or_else(|| panic!("acknowledged {ack:?} is missing"));
        assert_eq!(RecordId::parse(value), Some(ack.id), "at {ack:?}");
    }
    eprintln!(
        "{} sent, {} acknowledged, {} unacknowledged at SIGTERM, shutdown took {took:?}",
        outcome.sent,
        outcome.acks.len(),
        outcome.failures.len()
    );
}

#[test]
fn sigterm_answers_a_fetch_long_poll_in_flight_at_once_and_refuses_new_connections() {
    let mut broker = Broker::start();
    create_topic(&broker.bootstrap(), "quiet", 1);
    let mut wire = Wire::connect(&broker.bootstrap());
    // Nothing to read: the broker would hold this Fetch for 20 s.
    let long_poll = fetch_request("quiet", 0, 0, 1 << 20)
        .with_max_wait_ms(20_000)
        .with_min_bytes(1);
    let correlation_id = wire.next_correlation_id();
    let frame = wire.frame(12, &long_poll);
    wire.send_raw(&frame);
    std::thread::sleep(Duration::from_millis(300));

    let signalled = Instant::now();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(broker.pid() as i32, libc::SIGTERM) };
    // The long poll is answered with what there is (nothing), not dropped.
    let response = wire.read_response::<FetchRequest>(12, correlation_id);
    let answered = signalled.elapsed();
    let partition = &response.responses[0].partitions[0];
    assert_eq!(partition.error_code, 0);
    assert_eq!(partition.high_watermark, 0);
    assert!(partition.records.as_ref().is_none_or(|r| r.is_empty()));
    assert!(
        answered < Duration::from_secs(5),
        "the long poll held the shutdown for {answered:?}"
    );
    assert!(wire.is_closed());
    let took = broker.terminate();
    assert!(took < Duration::from_secs(10), "exit took {took:?} more");
    assert!(
        TcpStream::connect(broker.bootstrap()).is_err(),
        "nothing listens after the exit"
    );
}

/// A JoinGroup waits for the group's first rebalance delay (here 60 s): longer than
/// `shutdown.timeout.ms`, which then closes its connection.
#[test]
fn shutdown_timeout_closes_connections_that_outlast_it() {
    let mut broker = Broker::start_with(&[
        "shutdown.timeout.ms=500",
        "group.initial.rebalance.delay.ms=60000",
    ]);
    let mut wire = Wire::connect(&broker.bootstrap());
    let join = |member_id: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("slow-group")))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(90_000)
            .with_member_id(StrBytes::from_string(member_id.to_string()))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]))])
    };
    // KIP-394: the first JoinGroup only hands out a member id.
    let first = wire.request(7, &join(""));
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let frame = wire.frame(7, &join(first.member_id.as_str()));
    wire.send_raw(&frame);
    std::thread::sleep(Duration::from_millis(300));

    let took = broker.terminate();
    assert!(
        took < Duration::from_secs(5),
        "a held JoinGroup kept the broker for {took:?}"
    );
    assert!(broker
        .log()
        .contains("shutdown.timeout.ms passed with requests in flight"));
    assert!(wire.is_closed());
}
