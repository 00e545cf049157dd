//! kafka-python 2.2 (a pure-Python client, independent of librdkafka) against a real
//! `weir serve`: admin topic creation (and TOPIC_ALREADY_EXISTS), acks=all produce, consume
//! with exact key/value/timestamp checks, ListOffsets earliest/latest/by timestamp.
//! The client is installed by `scripts/install-test-clients.sh` (run by `scripts/test.sh`).

mod support;

use support::broker::Broker;
use support::python::run_script;

#[test]
fn kafka_python_round_trip() {
    let broker = Broker::start();
    let stdout = run_script("roundtrip.py", &[&broker.bootstrap(), "python-topic"]);
    assert!(
        stdout.contains(r#""produced": 500, "consumed": 500"#),
        "unexpected summary: {stdout}"
    );
    let log = broker.log();
    assert!(
        log.contains("TOPIC_ALREADY_EXISTS"),
        "the duplicate create was refused:\n{log}"
    );
}
