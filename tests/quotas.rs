//! Client quotas through the wire (issue 21): AlterClientQuotas and DescribeClientQuotas
//! (KIP-546) with Kafka's validation and filters, quotas kept across a restart, a client over
//! its quota answered with `throttle_time_ms` and its connection muted for that long (KIP-219;
//! old request versions answered late instead), a throttled fetch answered empty,
//! librdkafka producers sharing a client id held to its `producer_byte_rate`, request time
//! held to `request_percentage` (KIP-124) on every API and for a librdkafka consumer polling
//! without waiting; `weir quota`.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiVersionsRequest, CreateTopicsRequest, DescribeClientQuotasRequest,
    DescribeGroupsRequest, FindCoordinatorRequest, GroupId, ListGroupsRequest, MetadataRequest,
};
use kafka_protocol::protocol::{Request, StrBytes};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Statistics};

use support::admin::scrape;
use support::broker::Broker;
use support::cluster::Cluster;
use support::kafka::{create_topic, send_retrying};
use support::weir;
use support::wire::{fetch_request, produce_request, produce_value, topic_name, Wire};

const INVALID_REQUEST: i16 = 42;
/// The client id of every `Wire` request.
const WIRE_CLIENT: &str = "weir-wire-test";

fn entity(parts: &[(&str, Option<&str>)]) -> Vec<EntityData> {
    parts
        .iter()
        .map(|(entity_type, name)| {
            EntityData::default()
                .with_entity_type(StrBytes::from_string(entity_type.to_string()))
                .with_entity_name(name.map(|n| StrBytes::from_string(n.to_string())))
        })
        .collect()
}

/// An AlterClientQuotas entry: (key, Some(value)) sets, (key, None) removes.
fn entry(parts: &[(&str, Option<&str>)], ops: &[(&str, Option<f64>)]) -> EntryData {
    EntryData::default().with_entity(entity(parts)).with_ops(
        ops.iter()
            .map(|(key, value)| {
                OpData::default()
                    .with_key(StrBytes::from_string(key.to_string()))
                    .with_value(value.unwrap_or(0.0))
                    .with_remove(value.is_none())
            })
            .collect(),
    )
}

fn alter(wire: &mut Wire, entries: Vec<EntryData>, validate_only: bool) -> Vec<i16> {
    let request = AlterClientQuotasRequest::default()
        .with_entries(entries)
        .with_validate_only(validate_only);
    wire.request(1, &request)
        .entries
        .iter()
        .map(|e| e.error_code)
        .collect()
}

/// DescribeClientQuotas: each matching entity as "type=name,..." (name `<default>` for the
/// default) with its values.
fn describe(
    wire: &mut Wire,
    components: &[(&str, i8, Option<&str>)],
    strict: bool,
) -> Result<BTreeMap<String, BTreeMap<String, f64>>, i16> {
    let request = DescribeClientQuotasRequest::default()
        .with_strict(strict)
        .with_components(
            components
                .iter()
                .map(|(entity_type, match_type, name)| {
                    ComponentData::default()
                        .with_entity_type(StrBytes::from_string(entity_type.to_string()))
                        .with_match_type(*match_type)
                        .with_match(name.map(|n| StrBytes::from_string(n.to_string())))
                })
                .collect(),
        );
    let response = wire.request(1, &request);
    if response.error_code != 0 {
        return Err(response.error_code);
    }
    Ok(response
        .entries
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let name = e
                .entity
                .iter()
                .map(|p| {
                    format!(
                        "{}={}",
                        p.entity_type.as_str(),
                        p.entity_name.as_deref().unwrap_or("<default>")
                    )
                })
                .collect::<Vec<_>>()
                .join(",");
            let values = e
                .values
                .iter()
                .map(|v| (v.key.to_string(), v.value))
                .collect();
            (name, values)
        })
        .collect())
}

fn names(described: &BTreeMap<String, BTreeMap<String, f64>>) -> Vec<&str> {
    described.keys().map(String::as_str).collect()
}

#[test]
fn client_quotas_are_altered_and_described_as_kip_546_says_and_survive_a_restart() {
    let mut broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    let codes = alter(
        &mut wire,
        vec![
            entry(
                &[("user", Some("alice"))],
                &[("producer_byte_rate", Some(1024.0))],
            ),
            entry(
                &[("client-id", None)],
                &[("consumer_byte_rate", Some(2048.0))],
            ),
            entry(
                &[("user", Some("alice")), ("client-id", Some("app"))],
                &[
                    ("producer_byte_rate", Some(4096.0)),
                    ("consumer_byte_rate", Some(8192.0)),
                ],
            ),
            // Refused with INVALID_REQUEST: IP quotas, a quota Weir does not enforce, an
            // unknown key, a fractional byte rate, an entity type given twice.
            entry(&[("ip", None)], &[("connection_creation_rate", Some(1.0))]),
            entry(
                &[("user", Some("bob"))],
                &[("controller_mutation_rate", Some(50.0))],
            ),
            entry(&[("user", Some("bob"))], &[("bogus_rate", Some(1.0))]),
            entry(
                &[("user", Some("bob"))],
                &[("producer_byte_rate", Some(1.5))],
            ),
            entry(
                &[("user", Some("bob")), ("user", None)],
                &[("producer_byte_rate", Some(1.0))],
            ),
        ],
        false,
    );
    assert_eq!(codes, [0, 0, 0, 42, 42, 42, 42, 42]);
    // A dry run stores nothing.
    let dry = alter(
        &mut wire,
        vec![entry(
            &[("user", Some("carol"))],
            &[("producer_byte_rate", Some(1.0))],
        )],
        true,
    );
    assert_eq!(dry, [0]);

    let all = describe(&mut wire, &[], false).unwrap();
    assert_eq!(
        names(&all),
        [
            "client-id=<default>",
            "user=alice",
            "user=alice,client-id=app"
        ]
    );
    assert_eq!(
        all["user=alice,client-id=app"]["consumer_byte_rate"],
        8192.0
    );
    let alice = describe(&mut wire, &[("user", 0, Some("alice"))], false).unwrap();
    assert_eq!(names(&alice), ["user=alice", "user=alice,client-id=app"]);
    let only_alice = describe(&mut wire, &[("user", 0, Some("alice"))], true).unwrap();
    assert_eq!(names(&only_alice), ["user=alice"]);
    let defaults = describe(&mut wire, &[("client-id", 1, None)], false).unwrap();
    assert_eq!(names(&defaults), ["client-id=<default>"]);
    let with_client = describe(&mut wire, &[("client-id", 2, None)], false).unwrap();
    assert_eq!(
        names(&with_client),
        ["client-id=<default>", "user=alice,client-id=app"]
    );
    assert_eq!(
        describe(&mut wire, &[("user", 0, None)], false),
        Err(INVALID_REQUEST),
        "an exact match needs a name"
    );

    // Removing a value; the entity goes with its last one.
    let removed = alter(
        &mut wire,
        vec![entry(
            &[("user", Some("alice"))],
            &[("producer_byte_rate", None)],
        )],
        false,
    );
    assert_eq!(removed, [0]);
    drop(wire);

    broker.restart();
    let mut wire = Wire::connect(&broker.bootstrap());
    let after = describe(&mut wire, &[], false).unwrap();
    assert_eq!(
        names(&after),
        ["client-id=<default>", "user=alice,client-id=app"]
    );
    assert_eq!(after["client-id=<default>"]["consumer_byte_rate"], 2048.0);
}

fn set_quota(bootstrap: &str, client_id: &str, key: &str, bytes_per_second: f64) {
    let mut wire = Wire::connect(bootstrap);
    let codes = alter(
        &mut wire,
        vec![entry(
            &[("client-id", Some(client_id))],
            &[(key, Some(bytes_per_second))],
        )],
        false,
    );
    assert_eq!(codes, [0]);
}

fn api_versions_took(wire: &mut Wire) -> Duration {
    let started = Instant::now();
    let response = wire.request(3, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0);
    started.elapsed()
}

#[test]
fn a_client_over_its_quota_is_throttled_and_its_connection_muted() {
    // Two samples of 1 s: a new client's rate is measured over at least 1 s.
    let broker = Broker::start_with(&["quota.window.num=2", "quota.window.size.seconds=1"]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "metered", 1);
    set_quota(&bootstrap, WIRE_CLIENT, "producer_byte_rate", 100_000.0);
    let records = weir::record::batch_of(300, 1000, 1_700_000_000_000);

    // Produce v9 (KIP-219): answered at once with the throttle, then the connection is muted.
    // About 300 kB against 100 kB/s over 1 s: about 2 s.
    let mut muted = Wire::connect(&bootstrap);
    let started = Instant::now();
    let response = muted.request(9, &produce_request("metered", 0, records.clone(), 1));
    let answered_in = started.elapsed();
    assert_eq!(response.responses[0].partition_responses[0].error_code, 0);
    let throttle = response.throttle_time_ms;
    assert!(
        (1800..=2300).contains(&throttle),
        "throttle_time_ms {throttle}"
    );
    assert!(answered_in < Duration::from_millis(1000), "{answered_in:?}");
    let other_connection = Wire::connect(&bootstrap).request(3, &ApiVersionsRequest::default());
    assert_eq!(other_connection.error_code, 0);
    let waited = api_versions_took(&mut muted);
    assert!(
        waited >= Duration::from_millis(throttle as u64 - 200),
        "the next request was read after {waited:?}, throttle {throttle} ms"
    );
    assert!(
        api_versions_took(&mut muted) < Duration::from_millis(500),
        "unmuted afterwards"
    );

    // Produce v5 (before KIP-219): the broker holds the response for the throttle time.
    let mut old = Wire::connect(&bootstrap);
    let started = Instant::now();
    let response = old.request(5, &produce_request("metered", 0, records.clone(), 1));
    let answered_in = started.elapsed();
    let throttle = response.throttle_time_ms;
    assert!(throttle > 500, "throttle_time_ms {throttle}");
    assert!(
        answered_in >= Duration::from_millis(throttle as u64 - 100),
        "answered in {answered_in:?}, throttle {throttle} ms"
    );

    // A consumer's fetch is capped at its quota over the window's full samples (400 kB here:
    // one of the two 300 kB batches); the next one puts it over its consumer_byte_rate and is
    // answered empty and throttled.
    set_quota(&bootstrap, WIRE_CLIENT, "consumer_byte_rate", 400_000.0);
    let mut consumer = Wire::connect(&bootstrap);
    let first = consumer.request(12, &fetch_request("metered", 0, 0, 1 << 20));
    assert_eq!(first.throttle_time_ms, 0);
    let fetched = first.responses[0].partitions[0]
        .records
        .as_ref()
        .map_or(0, |r| r.len());
    assert!(
        (300_000..400_000).contains(&fetched),
        "first fetch {fetched} bytes"
    );
    let second = consumer.request(12, &fetch_request("metered", 0, 300, 1 << 20));
    assert!(second.throttle_time_ms > 0, "second fetch not throttled");
    assert!(second.responses.is_empty(), "a throttled fetch has no data");
    let throttled = metric_total(&broker, "weir_throttled_responses_total");
    assert!(throttled >= 3.0, "{throttled} throttled responses counted");
}

/// A counter's value summed over the broker's shards.
fn metric_total(broker: &Broker, name: &str) -> f64 {
    scrape(broker.admin_port)
        .lines()
        .filter(|line| line.starts_with(name))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Sends `request` until a response carries a throttle (a client at its quota gets one at
/// its next requests): that response, and how long it took.
fn until_throttled<R: Request>(
    wire: &mut Wire,
    version: i16,
    request: &R,
    throttle_of: impl Fn(&R::Response) -> i32,
) -> (R::Response, Duration) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let started = Instant::now();
        let response = wire.request(version, request);
        if throttle_of(&response) > 0 {
            return (response, started.elapsed());
        }
        assert!(Instant::now() < deadline, "no throttled {:?}", R::KEY);
    }
}

/// KIP-124 through the wire: a client sending requests back to back, ignoring the throttle as
/// a raw client does, is held by the broker's mute to its `request_percentage`; every response
/// type carries `throttle_time_ms`, bounded by one quota sample; a throttled fetch is empty;
/// an old Metadata version is answered late; another client id is not throttled.
#[test]
fn a_client_over_its_request_percentage_is_held_to_it_on_every_api() {
    const PERCENT: f64 = 1.0;
    let broker = Broker::start_with(&["quota.window.num=2", "quota.window.size.seconds=1"]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "timed", 1);
    assert_eq!(produce_value(&bootstrap, "timed", "v", 1).0, 0);
    // 1% of a second each second: 10 ms of request time.
    set_quota(&bootstrap, WIRE_CLIENT, "request_percentage", PERCENT);

    let all_topics = MetadataRequest::default().with_topics(None);
    let mut wire = Wire::connect(&bootstrap);
    let (mut sent, mut throttled, mut largest) = (0, 0, 0);
    held_to_request_quota(&broker, PERCENT, Duration::from_secs(4), || {
        let response = wire.request(12, &all_topics);
        sent += 1;
        if response.throttle_time_ms > 0 {
            throttled += 1;
            largest = largest.max(response.throttle_time_ms);
        }
    });
    eprintln!("{sent} Metadata requests, {throttled} throttled (largest {largest} ms)");
    assert!(throttled > 0, "never throttled in {sent} requests");
    assert!(
        largest <= 1000,
        "a throttle of {largest} ms: more than one sample"
    );

    // Another client id, meanwhile, is not throttled.
    let mut other = Wire::connect(&bootstrap).with_client_id("someone-else");
    for _ in 0..50 {
        assert_eq!(other.request(12, &all_topics).throttle_time_ms, 0);
    }

    // Every response type carries the throttle.
    let (response, _) = until_throttled(&mut wire, 3, &ApiVersionsRequest::default(), |r| {
        r.throttle_time_ms
    });
    assert_eq!(response.error_code, 0);
    let group = || GroupId(StrBytes::from_static_str("timed-group"));
    let find = FindCoordinatorRequest::default()
        .with_key_type(0)
        .with_coordinator_keys(vec![group().0]);
    until_throttled(&mut wire, 4, &find, |r| r.throttle_time_ms);
    let describe = DescribeGroupsRequest::default().with_groups(vec![group()]);
    until_throttled(&mut wire, 5, &describe, |r| r.throttle_time_ms);
    until_throttled(&mut wire, 4, &ListGroupsRequest::default(), |r| {
        r.throttle_time_ms
    });
    let records = weir::record::batch_of(1, 10, 1_700_000_000_000);
    let (produced, _) = until_throttled(
        &mut wire,
        9,
        &produce_request("timed", 0, records, 1),
        |r| r.throttle_time_ms,
    );
    assert_eq!(produced.responses[0].partition_responses[0].error_code, 0);
    let (fetched, _) =
        until_throttled(&mut wire, 12, &fetch_request("timed", 0, 0, 1 << 20), |r| {
            r.throttle_time_ms
        });
    assert!(
        fetched.responses.is_empty(),
        "a throttled fetch has no data"
    );
    // Metadata v5 (before KIP-219): the broker holds the response for the throttle.
    let (old, answered_in) = until_throttled(&mut wire, 5, &all_topics, |r| r.throttle_time_ms);
    assert!(
        answered_in >= Duration::from_millis(old.throttle_time_ms as u64),
        "answered in {answered_in:?}, throttle {} ms",
        old.throttle_time_ms
    );
}

/// Delivered payload bytes with the time they were acknowledged, and the largest throttle
/// librdkafka reported in its statistics.
#[derive(Default)]
struct Metered {
    delivered: Mutex<Vec<(Instant, usize)>>,
    max_throttle_ms: Mutex<i64>,
}

#[derive(Clone, Default)]
struct MeteredContext(Arc<Metered>);

impl ClientContext for MeteredContext {
    fn stats(&self, statistics: Statistics) {
        let throttle = statistics
            .brokers
            .values()
            .filter_map(|b| b.throttle.as_ref())
            .map(|w| w.max)
            .max()
            .unwrap_or(0);
        let mut max = self.0.max_throttle_ms.lock().unwrap();
        *max = (*max).max(throttle);
    }
}

impl ProducerContext for MeteredContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Ok(message) = result {
            use rdkafka::Message;
            let size = message.payload().map_or(0, <[u8]>::len);
            self.0
                .delivered
                .lock()
                .unwrap()
                .push((Instant::now(), size));
        }
    }
}

/// KIP-590 and KIP-124: a request a broker forwards to the active controller is measured and
/// throttled by that broker (Kafka's `sendForwardedResponse`): the controller's response comes
/// back carrying the client's throttle, and the client's connection is muted.
#[test]
fn a_forwarded_request_is_throttled_by_the_broker_the_client_reached() {
    let cluster = Cluster::start_separate(
        1,
        1,
        &[
            "quota.window.num=2".to_string(),
            "quota.window.size.seconds=1".to_string(),
        ],
    );
    // The broker-only node: it forwards CreateTopics to the controller-only one.
    let bootstrap = cluster.bootstrap();
    // 0.01%: 100 µs of request time each second.
    set_quota(&bootstrap, WIRE_CLIENT, "request_percentage", 0.01);
    let validate = CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(topic_name("forwarded"))
            .with_num_partitions(1)
            .with_replication_factor(1)])
        .with_timeout_ms(10_000)
        .with_validate_only(true);
    let mut wire = Wire::connect(&bootstrap);
    let (response, _) = until_throttled(&mut wire, 7, &validate, |r| r.throttle_time_ms);
    assert_eq!(
        response.topics[0].error_code, 0,
        "validated by the controller"
    );
    let throttle = response.throttle_time_ms;
    assert!(
        throttle <= 1000,
        "a throttle of {throttle} ms: more than one sample"
    );
    let waited = api_versions_took(&mut wire);
    assert!(
        waited >= Duration::from_millis((throttle as u64).saturating_sub(100)),
        "the next request was read after {waited:?}, throttle {throttle} ms"
    );
}

impl ConsumerContext for MeteredContext {}

/// KIP-124's first case: a consumer with `fetch.wait.max.ms=0` on a partition with nothing new
/// sends fetches back to back (librdkafka waits `fetch.error.backoff.ms` after reaching the
/// partition's end; 0 here). Under a request quota librdkafka sees `throttle_time_ms`, and
/// the time its requests take on the broker is held to the quota.
#[test]
fn a_librdkafka_consumer_fetching_without_waiting_is_held_to_its_request_percentage() {
    const PERCENT: f64 = 1.0;
    let broker = Broker::start_with(&["quota.window.num=2", "quota.window.size.seconds=1"]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "eager", 1);
    set_quota(&bootstrap, "eager-consumer", "request_percentage", PERCENT);
    let context = MeteredContext::default();
    let consumer: BaseConsumer<MeteredContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("client.id", "eager-consumer")
        .set("group.id", "eager")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "0")
        .set("fetch.error.backoff.ms", "0")
        .set("statistics.interval.ms", "500")
        .create_with_context(context.clone())
        .expect("consumer");
    let mut partitions = rdkafka::TopicPartitionList::new();
    partitions
        .add_partition_offset("eager", 0, rdkafka::Offset::Beginning)
        .expect("partition");
    consumer.assign(&partitions).expect("assign");
    held_to_request_quota(&broker, PERCENT, Duration::from_secs(5), || {
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(100)) {
            panic!("consumer error: {e}");
        }
    });
    let throttle = *context.0.max_throttle_ms.lock().unwrap();
    eprintln!("largest throttle librdkafka saw: {throttle} ms");
    assert!(throttle > 0, "librdkafka saw no throttle_time_ms");
}

/// Runs `step` over and over for `run`, as a client that wants far more than its request
/// quota of `percent`, and checks that the request time the broker measured meanwhile
/// (`weir_request_quota_seconds_total`) was held near the quota: no more than the quota over
/// the run and the first window (up to two samples), with half again for the whole requests a
/// throttle comes in, and no less than half the quota over the run (a request time measured
/// short would let the client through unthrottled).
fn held_to_request_quota(broker: &Broker, percent: f64, run: Duration, mut step: impl FnMut()) {
    let before = metric_total(broker, "weir_request_quota_seconds_total");
    let started = Instant::now();
    while started.elapsed() < run {
        step();
    }
    let ran = started.elapsed().as_secs_f64();
    let measured = metric_total(broker, "weir_request_quota_seconds_total") - before;
    let allowed = percent / 100.0 * (ran + 2.0);
    let quota_over_run = percent / 100.0 * ran;
    eprintln!(
        "{:.1} ms of request time measured in {ran:.1} s, {:.1} ms allowed",
        measured * 1000.0,
        allowed * 1000.0
    );
    assert!(
        measured <= allowed * 1.5,
        "{measured:.3} s of request time against {allowed:.3} s allowed"
    );
    assert!(
        measured >= quota_over_run / 2.0,
        "{measured:.3} s of request time measured: the quota over the run is {quota_over_run:.3} s"
    );
}

/// Sends 1 KiB records as client `metered-producer` for `run`, as fast as its quota lets it.
fn produce_metered(bootstrap: &str, run: Duration) -> MeteredContext {
    let context = MeteredContext::default();
    let producer: BaseProducer<MeteredContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "metered-producer")
        .set("linger.ms", "5")
        // A short queue: the test's end does not wait for a backlog sent at the quota.
        .set("queue.buffering.max.messages", "200")
        // Requests of at most 16 KiB, one at a time: each throttle is short, so the rate
        // measured over 10 s is not one burst more or less.
        .set("batch.size", "16384")
        .set("max.in.flight.requests.per.connection", "1")
        .set("statistics.interval.ms", "500")
        .create_with_context(context.clone())
        .expect("producer");
    let value = "v".repeat(1024);
    let started = Instant::now();
    while started.elapsed() < run {
        send_retrying(&producer, BaseRecord::to("metered").payload(value.as_str()));
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    context
}

/// Two producers with one client id, each on its own connection (which may land on either
/// of the broker's shards, `--smp 2` here): together they are held to the client id's rate.
#[test]
fn producers_sharing_a_client_id_are_held_to_its_producer_byte_rate() {
    const QUOTA: f64 = 256.0 * 1024.0;
    let broker = Broker::start_with(&["quota.window.num=2", "quota.window.size.seconds=1"]);
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "metered", 1);
    set_quota(&bootstrap, "metered-producer", "producer_byte_rate", QUOTA);
    let started = Instant::now();
    let run = Duration::from_secs(14);
    let producers: Vec<_> = (0..2)
        .map(|_| {
            let bootstrap = bootstrap.clone();
            std::thread::spawn(move || produce_metered(&bootstrap, run))
        })
        .collect();
    let contexts: Vec<MeteredContext> = producers
        .into_iter()
        .map(|p| p.join().expect("producer thread"))
        .collect();
    // After the first window's allowance, over 10 s.
    let (from, to) = (
        started + Duration::from_secs(3),
        started + Duration::from_secs(13),
    );
    let delivered: usize = contexts
        .iter()
        .flat_map(|c| c.0.delivered.lock().unwrap().clone())
        .filter(|(at, _)| (from..to).contains(at))
        .map(|(_, size)| size)
        .sum();
    let rate = delivered as f64 / 10.0;
    let throttle = contexts
        .iter()
        .map(|c| *c.0.max_throttle_ms.lock().unwrap())
        .max()
        .unwrap_or(0);
    eprintln!(
        "payload {rate:.0} B/s against a quota of {QUOTA} B/s; largest throttle {throttle} ms"
    );
    assert!(
        (rate - QUOTA).abs() <= 0.1 * QUOTA,
        "{rate:.0} B/s of payload against a quota of {QUOTA} B/s"
    );
    assert!(throttle > 0, "librdkafka saw no throttle_time_ms");
}

fn quota_tool(bootstrap: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["quota", args[0], "--bootstrap-server", bootstrap];
    all.extend_from_slice(&args[1..]);
    weir(&all)
}

#[test]
fn weir_quota_sets_describes_and_removes_quotas() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let set = |args: &[&str]| {
        let (ok, out) = quota_tool(&bootstrap, args);
        assert!(ok, "weir quota {args:?}: {out}");
        out
    };
    set(&[
        "set",
        "--user",
        "alice",
        "--client-id-default",
        "--producer-byte-rate",
        "1048576",
        "--request-percentage",
        "12.5",
    ]);
    set(&[
        "set",
        "--client-id",
        "reports",
        "--consumer-byte-rate",
        "2097152",
    ]);
    let described =
        support::kafka::wait_until_some("the quotas listed", Duration::from_secs(10), || {
            let out = set(&["describe"]);
            (out.lines().count() == 4).then_some(out)
        });
    assert!(
        described.contains("user=alice,client-id=<default>  producer_byte_rate  1048576"),
        "{described}"
    );
    assert!(
        described.contains("user=alice,client-id=<default>  request_percentage  12.5"),
        "{described}"
    );
    assert!(described.contains("client-id=reports"), "{described}");
    let alice = set(&["describe", "--user", "alice", "--output", "json"]);
    let alice: serde_json::Value = serde_json::from_str(alice.trim()).expect("json");
    assert_eq!(alice["quotas"].as_array().map(Vec::len), Some(2), "{alice}");
    // A refusal is the tool's error, with Kafka's code.
    let (ok, out) = quota_tool(
        &bootstrap,
        &[
            "remove",
            "--user",
            "alice",
            "--key",
            "controller_mutation_rate",
        ],
    );
    assert!(!ok && out.contains("INVALID_REQUEST"), "{out}");
    set(&[
        "remove",
        "--client-id",
        "reports",
        "--key",
        "consumer_byte_rate",
    ]);
    support::kafka::wait_until("the quota removed", Duration::from_secs(10), || {
        !set(&["describe"]).contains("reports")
    });
}
