//! Authentication with real clients and real processes (issue 21): a SASL_PLAINTEXT listener
//! beside a PLAINTEXT one; PLAIN users from `sasl.plain.users`; SCRAM-SHA-256/512 users set
//! with `weir user scram set` (AlterUserScramCredentials, KIP-554) and kept in the cluster
//! metadata; kafka-python and kcat (librdkafka) produce and consume with each mechanism; bad
//! logins get SASL_AUTHENTICATION_FAILED quickly and the broker serves everyone else; the
//! `weir` tools log in with `--command-config` (PLAIN through librdkafka, SCRAM through their
//! own client; librdkafka's SCRAM over TLS in tests/tls.rs).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, DescribeUserScramCredentialsRequest, MetadataRequest,
    SaslHandshakeRequest,
};
use kafka_protocol::protocol::StrBytes;

use support::admin;
use support::broker::{free_port, Broker};
use support::cluster::Cluster;
use support::python::{python, run_script};
use support::weir;
use support::wire::Wire;

const SCRAM_SHA_256: i8 = 1;
const SCRAM_SHA_512: i8 = 2;

/// A broker with PLAINTEXT on its usual port and SASL_PLAINTEXT on `sasl_port`.
fn sasl_broker(sasl_port: u16) -> Broker {
    Broker::start_with(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"),
        "sasl.plain.users=alice:alice-secret,admin:admin-secret",
        "num.partitions=2",
    ])
}

/// Whether kcat logs in at `address` with `mechanism` as `user` (a metadata request, at most
/// 10 s), and what it printed.
fn logs_in(address: &str, mechanism: &str, user: &str, password: &str) -> (bool, String) {
    kcat(
        address,
        mechanism,
        user,
        password,
        &["-L", "-m", "10"],
        None,
    )
}

/// kcat logged in with `mechanism` as `user`.
fn kcat(
    bootstrap: &str,
    mechanism: &str,
    user: &str,
    password: &str,
    args: &[&str],
    input: Option<&str>,
) -> (bool, String) {
    support::kcat::kcat(
        bootstrap,
        &support::kcat::sasl_settings(mechanism, user, password),
        args,
        input,
    )
}

#[test]
fn plain_and_scram_logins_from_kafka_python_and_kcat() {
    let sasl_port = free_port();
    let broker = sasl_broker(sasl_port);
    let sasl = format!("127.0.0.1:{sasl_port}");
    support::set_scram(&broker.bootstrap(), "bob", "bob-secret", "SCRAM-SHA-256");
    support::set_scram(
        &broker.bootstrap(),
        "carol",
        "carol-secret",
        "SCRAM-SHA-512",
    );

    for (mechanism, user, password) in [
        ("PLAIN", "alice", "alice-secret"),
        ("SCRAM-SHA-256", "bob", "bob-secret"),
        ("SCRAM-SHA-512", "carol", "carol-secret"),
    ] {
        let out = run_script(
            "secure_client.py",
            &[
                "--bootstrap",
                &sasl,
                "--protocol",
                "SASL_PLAINTEXT",
                "--mechanism",
                mechanism,
                "--user",
                user,
                "--password",
                password,
                "secured",
                "20",
            ],
        );
        assert!(
            out.contains("produced 20 consumed 20"),
            "{mechanism}: {out}"
        );
    }

    // librdkafka: SCRAM-SHA-256 in, PLAIN out.
    let (ok, out) = kcat(
        &sasl,
        "SCRAM-SHA-256",
        "bob",
        "bob-secret",
        &["-t", "kcat-secured", "-P"],
        Some("one\ntwo\nthree\n"),
    );
    assert!(ok, "kcat produce: {out}");
    let (ok, out) = kcat(
        &sasl,
        "PLAIN",
        "alice",
        "alice-secret",
        &[
            "-t",
            "kcat-secured",
            "-C",
            "-e",
            "-o",
            "beginning",
            "-f",
            "%s\n",
        ],
        None,
    );
    assert!(ok, "kcat consume: {out}");
    let mut lines: Vec<&str> = out
        .lines()
        .filter(|l| ["one", "two", "three"].contains(l))
        .collect();
    lines.sort();
    assert_eq!(lines, ["one", "three", "two"], "{out}");
}

#[test]
fn bad_logins_fail_quickly_and_the_broker_serves_everyone_else() {
    let sasl_port = free_port();
    let broker = sasl_broker(sasl_port);
    let sasl = format!("127.0.0.1:{sasl_port}");
    support::set_scram(&broker.bootstrap(), "bob", "bob-secret", "SCRAM-SHA-256");

    // A wrong password, an unknown user, a SCRAM user trying another mechanism: each fails
    // with Kafka's message, not a hang.
    for (mechanism, user, password) in [
        ("PLAIN", "alice", "wrong"),
        ("PLAIN", "mallory", "x"),
        ("SCRAM-SHA-256", "bob", "wrong"),
        ("SCRAM-SHA-512", "bob", "bob-secret"),
    ] {
        let started = Instant::now();
        let (ok, out) = kcat(&sasl, mechanism, user, password, &["-L", "-m", "5"], None);
        assert!(!ok, "{mechanism} {user}: {out}");
        assert!(
            out.contains("Authentication failed during authentication due to invalid credentials"),
            "{mechanism} {user}: {out}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{mechanism} {user}"
        );
    }
    let metrics = admin::scrape(broker.admin_port);
    let failures: f64 = (0..4)
        .filter_map(|shard| {
            admin::value(
                &metrics,
                &format!("weir_authentication_failures_total{{shard=\"{shard}\"}}"),
            )
        })
        .sum();
    assert!(failures >= 4.0, "{failures}");
    assert!(broker.log().contains("SASL authentication failed"));

    // kafka-python with a wrong password is told why at once (it then retries on its own).
    let output = Command::new("timeout")
        .arg("10")
        .arg(python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/secure_client.py"
        ))
        .args(["--bootstrap", &sasl, "--protocol", "SASL_PLAINTEXT"])
        .args([
            "--mechanism",
            "SCRAM-SHA-256",
            "--user",
            "bob",
            "--password",
            "nope",
        ])
        .args(["secured", "1"])
        .output()
        .expect("run kafka-python");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("SaslAuthenticationFailedError"),
        "kafka-python: {stderr}"
    );

    // A request before authenticating closes the connection; a SASL handshake on the
    // PLAINTEXT listener is answered ILLEGAL_SASL_STATE (34), as Kafka answers.
    let mut early = Wire::connect(&sasl);
    let metadata = early.frame(12, &MetadataRequest::default().with_topics(None));
    early.send_raw(&metadata);
    assert!(
        early.is_closed(),
        "a Metadata before SASL must close the connection"
    );
    let mut plaintext = Wire::connect(&broker.bootstrap());
    let answer = plaintext.request(
        1,
        &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
    );
    assert_eq!(answer.error_code, 34);

    // Everyone else is served: a good login right after.
    let (ok, out) = logs_in(&sasl, "SCRAM-SHA-256", "bob", "bob-secret");
    assert!(ok && out.contains("broker"), "{out}");
}

#[test]
fn scram_credentials_follow_kafkas_rules_and_survive_a_restart() {
    let sasl_port = free_port();
    let mut broker = sasl_broker(sasl_port);
    let sasl = format!("127.0.0.1:{sasl_port}");
    let mut wire = Wire::connect(&broker.bootstrap());
    let upsert = |user: &str, mechanism: i8, iterations: i32| {
        ScramCredentialUpsertion::default()
            .with_name(StrBytes::from_string(user.to_string()))
            .with_mechanism(mechanism)
            .with_iterations(iterations)
            .with_salt(b"0123456789abcdef".to_vec().into())
            .with_salted_password(vec![7u8; 32].into())
    };
    let response = wire.request(
        0,
        &AlterUserScramCredentialsRequest::default()
            .with_upsertions(vec![
                upsert("few", SCRAM_SHA_256, 1000),
                upsert("many", SCRAM_SHA_512, 20000),
                upsert("odd", 9, 4096),
                upsert("fine", SCRAM_SHA_256, 4096),
            ])
            .with_deletions(vec![ScramCredentialDeletion::default()
                .with_name(StrBytes::from_static_str("ghost"))
                .with_mechanism(SCRAM_SHA_256)]),
    );
    let codes: Vec<(String, i16)> = response
        .results
        .iter()
        .map(|r| (r.user.to_string(), r.error_code))
        .collect();
    // RESOURCE_NOT_FOUND 91, UNACCEPTABLE_CREDENTIAL 93, UNSUPPORTED_SASL_MECHANISM 33.
    assert_eq!(
        codes,
        [
            ("ghost".to_string(), 91),
            ("few".to_string(), 93),
            ("many".to_string(), 93),
            ("odd".to_string(), 33),
            ("fine".to_string(), 0),
        ]
    );
    let described = wire.request(0, &DescribeUserScramCredentialsRequest::default());
    let users: Vec<String> = described
        .results
        .iter()
        .map(|r| r.user.to_string())
        .collect();
    assert_eq!(users, ["fine"]);

    support::set_scram(&broker.bootstrap(), "dora", "dora-secret", "SCRAM-SHA-512");
    let (ok, out) = weir(&[
        "user",
        "scram",
        "describe",
        "--bootstrap-server",
        &broker.bootstrap(),
        "--user",
        "dora",
    ]);
    assert!(
        ok && out.contains("SCRAM-SHA-512") && out.contains("4096"),
        "{out}"
    );
    // The salted password never leaves the broker: Describe has mechanisms and iterations only.

    broker.restart();
    let (ok, out) = logs_in(&sasl, "SCRAM-SHA-512", "dora", "dora-secret");
    assert!(ok, "dora after a restart: {out}");

    let (ok, out) = weir(&[
        "user",
        "scram",
        "delete",
        "--bootstrap-server",
        &broker.bootstrap(),
        "--user",
        "dora",
        "--mechanism",
        "SCRAM-SHA-512",
    ]);
    assert!(ok, "{out}");
    let (ok, out) = logs_in(&sasl, "SCRAM-SHA-512", "dora", "dora-secret");
    assert!(
        !ok && out.contains("Authentication failed"),
        "a deleted user: {out}"
    );
}

#[test]
fn a_scram_user_set_on_one_broker_logs_in_on_every_broker() {
    let cluster = Cluster::start(
        3,
        &[
            "listeners=PLAINTEXT://{node.host}:{node.port},SASL_PLAINTEXT://{node.host}:{node.spare_port},CONTROLLER://{node.host}:{node.controller_port}".to_string(),
            "offsets.topic.num.partitions=1".to_string(),
        ],
    );
    // Set through a broker that is probably not the controller: AlterUserScramCredentials is
    // forwarded to the active controller (KIP-590).
    let last = &cluster.nodes[2];
    support::set_scram(
        &format!("{}:{}", last.host, last.port),
        "erin",
        "erin-secret",
        "SCRAM-SHA-256",
    );
    let erin = support::kcat::sasl_settings("SCRAM-SHA-256", "erin", "erin-secret");
    for node in &cluster.nodes {
        let sasl = format!("{}:{}", node.host, node.spare_port);
        support::kcat::wait_for_login(&sasl, &erin, "erin");
    }
}

#[test]
fn the_tools_log_in_with_a_command_config() {
    let sasl_port = free_port();
    let broker = sasl_broker(sasl_port);
    let sasl = format!("127.0.0.1:{sasl_port}");
    support::set_scram(&broker.bootstrap(), "bob", "bob-secret", "SCRAM-SHA-256");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write command config");
        path.display().to_string()
    };
    // librdkafka's names, PLAIN: the librdkafka-based tools (here `weir topic`).
    let plain = config(
        "plain.properties",
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n\
         sasl.username=alice\nsasl.password=alice-secret\n",
    );
    let (ok, out) = weir(&[
        "topic",
        "create",
        "tools-secured",
        "--partitions",
        "1",
        "-b",
        &sasl,
        "--command-config",
        &plain,
    ]);
    assert!(ok, "weir topic create over SASL PLAIN: {out}");
    let (ok, out) = weir(&["topic", "list", "-b", &sasl, "--command-config", &plain]);
    assert!(ok && out.contains("tools-secured"), "{out}");
    // SCRAM-SHA-256 from the tools' own client (`weir user`, `weir acl`, `weir quota`).
    let scram = config(
        "scram.properties",
        "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n\
         sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"bob\" password=\"bob-secret\";\n",
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = weir(&[
            "user",
            "scram",
            "describe",
            "-b",
            &sasl,
            "--command-config",
            &scram,
        ]);
        if ok {
            assert!(out.contains("bob"), "{out}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "weir user scram describe as bob: {out}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Without a login, the SASL listener closes the connection: a clear failure, not a hang.
    let started = Instant::now();
    let (ok, out) = weir(&[
        "quota",
        "describe",
        "-b",
        &sasl,
        "--request-timeout-ms",
        "5000",
    ]);
    assert!(!ok, "{out}");
    assert!(started.elapsed() < Duration::from_secs(10), "{out}");
}

#[test]
fn a_listeners_jaas_config_names_its_plain_users() {
    let sasl_port = free_port();
    let _broker = Broker::start_with(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"),
        // Kafka's own form: the listener's PlainLoginModule entry lists its users.
        "listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" user_dave=\"dave-secret\";",
        "sasl.plain.users=alice:alice-secret",
    ]);
    let sasl = format!("127.0.0.1:{sasl_port}");
    let (ok, out) = logs_in(&sasl, "PLAIN", "dave", "dave-secret");
    assert!(ok, "dave from the JAAS entry: {out}");
    let (ok, out) = logs_in(&sasl, "PLAIN", "alice", "alice-secret");
    assert!(!ok, "the listener's entry replaces sasl.plain.users: {out}");
}

#[test]
fn sasl_sessions_end_unless_the_client_logs_in_again() {
    let sasl_port = free_port();
    let broker = Broker::start_with(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"),
        "sasl.plain.users=alice:alice-secret,admin:admin-secret",
        "connections.max.reauth.ms=1500",
    ]);
    let sasl = format!("127.0.0.1:{sasl_port}");
    // A raw client that logs in once: told its session lasts 1.5 s, and closed at its first
    // request after that.
    let mut once = Wire::connect(&sasl);
    assert_eq!(
        Wire::plain_login(&mut once, "alice", "alice-secret"),
        (0, 1500)
    );
    assert!(once.try_request(12, &MetadataRequest::default()).is_some());
    std::thread::sleep(Duration::from_millis(1800));
    assert!(
        once.try_request(12, &MetadataRequest::default()).is_none(),
        "an expired session's request closes the connection"
    );
    // Logging in again keeps the connection; as another user it is refused.
    let mut again = Wire::connect(&sasl);
    assert_eq!(Wire::plain_login(&mut again, "alice", "alice-secret").0, 0);
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(Wire::plain_login(&mut again, "alice", "alice-secret").0, 0);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(again.try_request(12, &MetadataRequest::default()).is_some());
    assert_eq!(Wire::plain_login(&mut again, "admin", "admin-secret").0, 58);

    // librdkafka re-authenticates on its own (KIP-368): a producer keeps delivering over
    // several session lifetimes on its connection.
    let producer: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &sasl)
        .set("security.protocol", "SASL_PLAINTEXT")
        .set("sasl.mechanism", "PLAIN")
        .set("sasl.username", "alice")
        .set("sasl.password", "alice-secret")
        .create()
        .expect("producer");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(5) {
        use rdkafka::producer::Producer;
        producer
            .send(rdkafka::producer::BaseRecord::<(), str>::to("reauth").payload("v"))
            .map_err(|(e, _)| e)
            .expect("send");
        producer.flush(Duration::from_secs(10)).expect("delivered");
        std::thread::sleep(Duration::from_millis(250));
    }
    // The raw client's one re-authentication and the producer's, and no session of the
    // producer expired (only the first raw client's did).
    let log = broker.log();
    let count = |text: &str| log.matches(text).count();
    assert!(count("re-authenticated (KIP-368)") >= 3, "{log}");
    assert_eq!(count("its SASL session expired"), 1, "{log}");
}

#[test]
fn scram_users_added_at_format_time_log_in_from_the_first_start() {
    let sasl_port = free_port();
    let mut broker = Broker::start_with(&[&format!(
        "listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"
    )]);
    // A fresh data directory, formatted as kafka-storage format --add-scram does.
    broker.terminate();
    let data = broker.data_path();
    std::fs::remove_dir_all(&data).expect("remove the data dir");
    let log_dirs = format!("log.dirs={}", data.display());
    let format = |extra: &[&str]| {
        let mut args = vec!["storage", "format", "--override", &log_dirs];
        args.extend_from_slice(extra);
        weir(&args)
    };
    let (ok, out) = format(&[
        "--add-scram",
        "SCRAM-SHA-512=[name=ops,password=ops-secret]",
        "--add-scram",
        "SCRAM-SHA-256=[name=\"app\",password=\"app secret\",iterations=8192]",
    ]);
    assert!(ok && out.contains("2 SCRAM credentials"), "{out}");
    let (ok, out) = format(&["--add-scram", "SCRAM-SHA-256=[name=x,password=y]"]);
    assert!(
        !ok && out.contains("--ignore-formatted"),
        "formatted twice: {out}"
    );
    let (ok, out) = format(&[
        "--add-scram",
        "SCRAM-SHA-256=[name=x,password=y]",
        "--ignore-formatted",
    ]);
    assert!(ok, "{out}");
    broker.relaunch();
    let sasl = format!("127.0.0.1:{sasl_port}");
    let (ok, out) = logs_in(&sasl, "SCRAM-SHA-512", "ops", "ops-secret");
    assert!(ok, "a format-time SCRAM user: {out}");
    let (ok, out) = logs_in(&sasl, "SCRAM-SHA-256", "app", "app secret");
    assert!(ok, "{out}");
    // Committed once, as the cluster's first records: still there after a restart.
    broker.restart();
    let (ok, out) = logs_in(&sasl, "SCRAM-SHA-512", "ops", "ops-secret");
    assert!(ok, "after a restart: {out}");
    let (ok, out) = weir(&["user", "scram", "describe", "-b", &broker.bootstrap()]);
    assert!(ok && out.contains("ops") && out.contains("8192"), "{out}");
}

#[test]
fn format_time_scram_users_reach_every_node_of_a_new_cluster() {
    let mut cluster = Cluster::start(
        3,
        &[
            "listeners=PLAINTEXT://{node.host}:{node.port},SASL_PLAINTEXT://{node.host}:{node.spare_port},CONTROLLER://{node.host}:{node.controller_port}".to_string(),
            "offsets.topic.num.partitions=1".to_string(),
        ],
    );
    // The same cluster, new: each node's directory formatted before its first start.
    cluster.reformat(&["SCRAM-SHA-256=[name=ops,password=ops-secret]"]);
    let ops = support::kcat::sasl_settings("SCRAM-SHA-256", "ops", "ops-secret");
    for node in &cluster.nodes {
        let sasl = format!("{}:{}", node.host, node.spare_port);
        support::kcat::wait_for_login(&sasl, &ops, "ops");
    }
}
