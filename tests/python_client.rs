//! kafka-python 2.2 (a pure-Python client, independent of librdkafka) against a real
//! `weir serve`: admin topic creation (and TOPIC_ALREADY_EXISTS), acks=all produce, consume
//! with exact key/value/timestamp checks, ListOffsets earliest/latest/by timestamp.
//! The client is installed by `scripts/install-test-clients.sh` (run by `scripts/test.sh`).

mod support;

use std::path::PathBuf;
use std::process::Command;

use support::broker::Broker;
use support::python::python;

#[test]
fn kafka_python_round_trip() {
    let broker = Broker::start();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/roundtrip.py");
    let output = Command::new(python())
        .arg(&script)
        .arg(broker.bootstrap())
        .arg("python-topic")
        .output()
        .expect("run kafka-python");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "kafka-python failed:\n{stdout}\n{stderr}"
    );
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
