//! The admin port's `/metrics` (Prometheus text) against a real `weir serve` driven by
//! librdkafka: per-partition produce and fetch counters and latency summaries, log offsets
//! matching what the client saw, and HTTP errors for anything but `GET /metrics`.

mod support;

use std::time::Duration;

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use support::admin::{http, scrape, value};
use support::broker::Broker;
use support::kafka::{create_topic, produce, wait_until};

#[test]
fn metrics_follow_produce_and_fetch_per_partition() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "measured", 2);
    let ends = produce(&bootstrap, "measured", 400);

    let metrics = scrape(broker.admin_port);
    for (partition, end) in &ends {
        let labels = format!("{{topic=\"measured\",partition=\"{partition}\"}}");
        assert_eq!(
            value(&metrics, &format!("weir_partition_log_end_offset{labels}")),
            Some(*end as f64),
            "{metrics}"
        );
        assert_eq!(
            value(&metrics, &format!("weir_partition_high_watermark{labels}")),
            Some(*end as f64)
        );
        if *end > 0 {
            let requests = value(
                &metrics,
                &format!("weir_partition_produce_requests_total{labels}"),
            )
            .expect("produce requests counted");
            assert!(requests >= 1.0);
            assert_eq!(
                value(
                    &metrics,
                    &format!("weir_partition_produce_latency_seconds_count{labels}")
                ),
                Some(requests)
            );
            let p99 = value(
                &metrics,
                &format!(
                    "weir_partition_produce_latency_seconds{{topic=\"measured\",partition=\"{partition}\",quantile=\"0.99\"}}"
                ),
            )
            .expect("p99");
            assert!(p99 > 0.0 && p99 < 30.0, "{p99}");
            assert_eq!(
                value(
                    &metrics,
                    &format!("weir_partition_produce_errors_total{labels}")
                ),
                Some(0.0)
            );
        }
    }
    assert_eq!(
        metrics
            .matches("# TYPE weir_request_latency_seconds summary")
            .count(),
        1
    );
    assert!(metrics.contains("api=\"Produce\",quantile=\"0.999\""));

    // A consumer reads partition 0: its fetched bytes show up on the partition's owner.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "metrics-reader")
        .create()
        .expect("consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset("measured", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&assignment).unwrap();
    let wanted = ends[&0];
    let mut read = 0;
    wait_until("partition 0 read back", Duration::from_secs(30), || {
        while let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            read += 1;
        }
        read >= wanted
    });
    let metrics = scrape(broker.admin_port);
    let fetched = value(
        &metrics,
        "weir_partition_fetch_bytes_total{topic=\"measured\",partition=\"0\"}",
    )
    .expect("fetch bytes counted");
    let produced = value(
        &metrics,
        "weir_partition_produce_bytes_total{topic=\"measured\",partition=\"0\"}",
    )
    .expect("produce bytes counted");
    // Every stored byte of the partition was sent at least once.
    assert!(
        fetched >= produced,
        "fetched {fetched} < produced {produced}"
    );
    let connections: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("weir_connections{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum();
    assert!(connections >= 1.0, "{metrics}");
}

#[test]
fn the_admin_port_answers_only_get_metrics() {
    let broker = Broker::start();
    let port = broker.admin_port;
    assert_eq!(
        http(port, "GET / HTTP/1.1\r\n\r\n").0,
        "HTTP/1.1 404 Not Found"
    );
    assert_eq!(
        http(port, "DELETE /metrics HTTP/1.1\r\n\r\n").0,
        "HTTP/1.1 405 Method Not Allowed"
    );
    assert_eq!(
        http(port, "\u{0}\u{0}\u{0}\u{10}not http\r\n\r\n").0,
        "HTTP/1.1 400 Bad Request"
    );
    // HEAD: the head only.
    let (status, body) = http(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.is_empty());
    // Still serving, and so is the Kafka port.
    assert!(scrape(port).contains("# TYPE weir_connections gauge"));
    create_topic(&broker.bootstrap(), "still-up", 1);
}
