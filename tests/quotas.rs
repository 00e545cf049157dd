//! Client quotas through the wire (issue 21): AlterClientQuotas and DescribeClientQuotas
//! (KIP-546) with Kafka's validation and filters, quotas kept across a restart, a client over
//! its quota answered with `throttle_time_ms` and its connection muted for that long (KIP-219;
//! old request versions answered late instead), a throttled fetch answered empty, and a
//! librdkafka producers sharing a client id held to its `producer_byte_rate`; `weir quota`.

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_client_quotas_request::{EntityData, EntryData, OpData};
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, ApiVersionsRequest, DescribeClientQuotasRequest,
};
use kafka_protocol::protocol::StrBytes;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Statistics};

use support::admin::scrape;
use support::broker::Broker;
use support::kafka::{create_topic, send_retrying};
use support::weir;
use support::wire::{fetch_request, produce_request, Wire};

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
                &[("request_percentage", Some(50.0))],
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
    let metrics = scrape(broker.admin_port);
    let throttled: f64 = metrics
        .lines()
        .filter(|line| line.starts_with("weir_throttled_responses_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(throttled >= 3.0, "{throttled} throttled responses counted");
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
            (out.lines().count() == 3).then_some(out)
        });
    assert!(
        described.contains("user=alice,client-id=<default>  producer_byte_rate  1048576"),
        "{described}"
    );
    assert!(described.contains("client-id=reports"), "{described}");
    let alice = set(&["describe", "--user", "alice", "--output", "json"]);
    let alice: serde_json::Value = serde_json::from_str(alice.trim()).expect("json");
    assert_eq!(alice["quotas"].as_array().map(Vec::len), Some(1), "{alice}");
    // A refusal is the tool's error, with Kafka's code.
    let (ok, out) = quota_tool(
        &bootstrap,
        &["remove", "--user", "alice", "--key", "request_percentage"],
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
