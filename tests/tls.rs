//! TLS listeners (issue 21) with real clients: SSL and SASL_SSL beside PLAINTEXT, Kafka's PEM
//! key store keys, a CA made by the test (openssl); kafka-python and kcat (librdkafka) produce
//! and consume, over SASL_SSL with PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512; mutual TLS with
//! `ssl.client.auth=required`; a plaintext client on the TLS port and a TLS client on the
//! plaintext port fail at once, and the broker serves everyone else;
//! the `weir` tools over SASL_SSL (SCRAM) and mutual TLS with `--command-config`, their own
//! client's and librdkafka's.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::broker::{free_port, Broker};
use support::kcat::kcat;
use support::pki::Pki;
use support::python::run_script;

fn ssl_settings(pki: &Pki) -> Vec<String> {
    vec![
        "security.protocol=SSL".into(),
        format!("ssl.ca.location={}", pki.file("ca.pem")),
    ]
}

/// kafka-python over `protocol` (trusting the test's CA) produces `count` records to `topic`
/// and reads them back in a group.
fn python_over_tls(
    pki: &Pki,
    bootstrap: &str,
    protocol: &str,
    extra: &[&str],
    topic: &str,
    count: usize,
) {
    let ca = pki.file("ca.pem");
    let count_text = count.to_string();
    let mut args = vec![
        "--bootstrap",
        bootstrap,
        "--protocol",
        protocol,
        "--cafile",
        &ca,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[topic, &count_text]);
    let out = run_script("secure_client.py", &args);
    assert!(
        out.contains(&format!("produced {count} consumed {count}")),
        "{protocol}: {out}"
    );
}

#[test]
fn ssl_and_sasl_ssl_serve_kafka_python_and_kcat() {
    let pki = Pki::new();
    let (ssl_port, sasl_ssl_port) = (free_port(), free_port());
    let broker = Broker::start_with(&[
        &format!(
            "listeners=PLAINTEXT://127.0.0.1:{{port}},SSL://127.0.0.1:{ssl_port},SASL_SSL://127.0.0.1:{sasl_ssl_port}"
        ),
        &format!("ssl.keystore.location={}", pki.file("broker-keystore.pem")),
        "sasl.plain.users=alice:alice-secret",
    ]);
    let ssl = format!("127.0.0.1:{ssl_port}");
    let sasl_ssl = format!("127.0.0.1:{sasl_ssl_port}");

    python_over_tls(&pki, &ssl, "SSL", &[], "over-tls", 50);
    let login = [
        "--mechanism",
        "PLAIN",
        "--user",
        "alice",
        "--password",
        "alice-secret",
    ];
    python_over_tls(&pki, &sasl_ssl, "SASL_SSL", &login, "over-tls", 50);

    // SCRAM over TLS (KIP-84): carol's credentials for both mechanisms, set through the
    // PLAINTEXT listener; SHA-256 first, so that once SHA-512 logs in both are applied.
    for mechanism in ["SCRAM-SHA-256", "SCRAM-SHA-512"] {
        support::set_scram(&broker.bootstrap(), "carol", "carol-secret", mechanism);
    }
    let scram_512 = [
        "security.protocol=SASL_SSL".to_string(),
        format!("ssl.ca.location={}", pki.file("ca.pem")),
        "sasl.mechanism=SCRAM-SHA-512".to_string(),
        "sasl.username=carol".to_string(),
        "sasl.password=carol-secret".to_string(),
    ];
    support::kafka::wait_until(
        "kcat logged in with SCRAM-SHA-512 over SASL_SSL",
        Duration::from_secs(15),
        || kcat(&sasl_ssl, &scram_512, &["-L", "-m", "5"], None).0,
    );
    let (ok, out) = kcat(
        &sasl_ssl,
        &scram_512,
        &["-t", "scram-tls", "-P"],
        Some("over scram\n"),
    );
    assert!(ok, "kcat produce over SASL_SSL with SCRAM-SHA-512: {out}");
    let scram_256 = [
        "--mechanism",
        "SCRAM-SHA-256",
        "--user",
        "carol",
        "--password",
        "carol-secret",
    ];
    python_over_tls(&pki, &sasl_ssl, "SASL_SSL", &scram_256, "scram-tls", 20);

    // librdkafka: a large record (several TLS records per Kafka request) in, then all out.
    let big = "x".repeat(200_000);
    let input = format!("one\n{big}\nthree\n");
    let (ok, out) = kcat(
        &ssl,
        &ssl_settings(&pki),
        &["-t", "kcat-tls", "-P"],
        Some(&input),
    );
    assert!(ok, "kcat produce over SSL: {out}");
    let (ok, out) = kcat(
        &ssl,
        &ssl_settings(&pki),
        &[
            "-t",
            "kcat-tls",
            "-C",
            "-e",
            "-o",
            "beginning",
            "-f",
            "%S\n",
        ],
        None,
    );
    assert!(ok, "kcat consume over SSL: {out}");
    let sizes: Vec<&str> = out
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()) && !l.is_empty())
        .collect();
    assert_eq!(sizes, ["3", "200000", "5"], "{out}");

    // Metadata on the SSL listener points at the SSL endpoint.
    let (ok, out) = kcat(&ssl, &ssl_settings(&pki), &["-L", "-m", "10"], None);
    assert!(
        ok && out.contains(&format!("127.0.0.1:{ssl_port}")),
        "{out}"
    );
}

#[test]
fn mutual_tls_requires_a_certificate_from_the_trusted_ca() {
    let pki = Pki::new();
    let ssl_port = free_port();
    let settings = pki.mutual_tls_broker(ssl_port);
    let broker = Broker::start_with(&settings.iter().map(String::as_str).collect::<Vec<_>>());
    let ssl = format!("127.0.0.1:{ssl_port}");
    let with_cert = |cert: &str| pki.client_with_certificate(cert);
    let (ok, out) = kcat(&ssl, &with_cert("client"), &["-L", "-m", "10"], None);
    assert!(ok, "a client certificate of the trusted CA: {out}");

    for (what, settings) in [
        ("no client certificate", ssl_settings(&pki)),
        ("a certificate of another CA", with_cert("stranger")),
    ] {
        let started = Instant::now();
        let (ok, out) = kcat(&ssl, &settings, &["-L", "-m", "5"], None);
        assert!(!ok, "{what}: {out}");
        assert!(started.elapsed() < Duration::from_secs(20), "{what}");
    }
    assert!(
        broker.log().contains("closing TLS connection"),
        "{}",
        broker.log()
    );

    let (cert, key) = (pki.file("client.pem"), pki.file("client.key"));
    let certificate = ["--certfile", cert.as_str(), "--keyfile", key.as_str()];
    python_over_tls(&pki, &ssl, "SSL", &certificate, "mtls", 10);

    // The weir tools present the client certificate from a --command-config.
    let config = command_config(
        &pki,
        "mtls.properties",
        &[
            "security.protocol=SSL".into(),
            format!("ssl.truststore.location={}", pki.file("ca.pem")),
            format!("ssl.certificate.location={cert}"),
            format!("ssl.key.location={key}"),
        ],
    );
    librdkafka_tools_round_trip(&ssl, &config, "mtls-tools");
}

#[test]
fn the_wrong_protocol_on_a_port_fails_at_once_and_others_are_served() {
    let pki = Pki::new();
    let ssl_port = free_port();
    let broker = Broker::start_with(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SSL://127.0.0.1:{ssl_port}"),
        &format!("ssl.keystore.location={}", pki.file("broker-keystore.pem")),
    ]);
    let ssl = format!("127.0.0.1:{ssl_port}");

    // A plaintext client on the TLS port: its request is not a TLS record.
    let started = Instant::now();
    let (ok, out) = kcat(&ssl, &[], &["-L", "-m", "5"], None);
    assert!(!ok, "plaintext on the TLS port: {out}");
    assert!(started.elapsed() < Duration::from_secs(20));
    // A TLS client on the plaintext port: its ClientHello is not a Kafka frame.
    let started = Instant::now();
    let (ok, out) = kcat(
        &broker.bootstrap(),
        &ssl_settings(&pki),
        &["-L", "-m", "5"],
        None,
    );
    assert!(!ok, "TLS on the plaintext port: {out}");
    assert!(started.elapsed() < Duration::from_secs(20));

    let (ok, out) = kcat(&ssl, &ssl_settings(&pki), &["-L", "-m", "10"], None);
    assert!(ok, "a TLS client after the bad ones: {out}");
    let (ok, out) = kcat(&broker.bootstrap(), &[], &["-L", "-m", "10"], None);
    assert!(ok, "a plaintext client after the bad ones: {out}");
}

#[test]
fn bad_tls_settings_are_refused_at_start_naming_the_key() {
    let pki = Pki::new();
    let ssl_port = free_port();
    for (overrides, key) in [
        (vec![], "ssl.keystore.location"),
        (
            vec![format!("ssl.keystore.location={}", pki.file("missing.pem"))],
            "ssl.keystore.location",
        ),
        (
            vec![format!("ssl.keystore.location={}", pki.file("ca.pem"))],
            "ssl.keystore.location",
        ),
        (
            vec![
                format!("ssl.keystore.location={}", pki.file("broker-keystore.pem")),
                "ssl.client.auth=required".to_string(),
            ],
            "ssl.client.auth",
        ),
        (
            vec![
                format!("ssl.keystore.location={}", pki.file("broker-keystore.pem")),
                "ssl.cipher.suites=TLS_RSA_WITH_RC4_128_MD5".to_string(),
            ],
            "ssl.cipher.suites",
        ),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .args([
                "--override",
                &format!("listeners=SSL://127.0.0.1:{ssl_port}"),
            ])
            .args(["--override", "inter.broker.listener.name=SSL"])
            .args(overrides.iter().flat_map(|o| ["--override", o.as_str()]))
            .output()
            .expect("run weir serve");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{overrides:?}");
        assert!(stderr.contains(key), "{overrides:?}: {stderr}");
    }
}

/// Writes a client properties file (`--command-config`) into the PKI's directory.
fn command_config(pki: &Pki, name: &str, lines: &[String]) -> String {
    let path = pki.path(name);
    std::fs::write(&path, lines.join("\n") + "\n").expect("write command config");
    path.display().to_string()
}

/// The librdkafka-based tools (`weir topic`, `weir produce`, `weir consume`) with `config`:
/// a topic made, two records produced and read back.
fn librdkafka_tools_round_trip(bootstrap: &str, config: &str, topic: &str) {
    let run = |args: &[&str], input: &str| {
        let mut all = args.to_vec();
        all.extend(["--bootstrap-server", bootstrap, "--command-config", config]);
        support::weir_with_input(&all, input)
    };
    let (ok, out) = run(&["topic", "create", topic, "--partitions", "1"], "");
    assert!(ok, "weir topic create: {out}");
    let (ok, out) = run(&["produce", topic], "first\nsecond\n");
    assert!(ok, "weir produce: {out}");
    let (ok, out) = run(
        &[
            "consume",
            topic,
            "--from-beginning",
            "--max-messages",
            "2",
            "--timeout",
            "15000",
        ],
        "",
    );
    assert!(ok, "weir consume: {out}");
    // Its standard output (the records), then its standard error (the count).
    assert!(
        out.starts_with("first\nsecond\n") && out.contains("Processed a total of 2 messages"),
        "{out}"
    );
}

#[test]
fn the_tools_log_in_over_sasl_ssl_with_a_command_config() {
    let pki = Pki::new();
    let sasl_ssl_port = free_port();
    let broker = Broker::start_with(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_SSL://127.0.0.1:{sasl_ssl_port}"),
        &format!("ssl.keystore.location={}", pki.file("broker-keystore.pem")),
    ]);
    support::set_scram(&broker.bootstrap(), "ops", "ops-secret", "SCRAM-SHA-512");
    let sasl_ssl = format!("127.0.0.1:{sasl_ssl_port}");
    // Kafka's Java client properties: a JAAS line and a PEM trust store.
    let config = |password: &str| {
        command_config(
            &pki,
            &format!("client-{password}.properties"),
            &[
                "security.protocol=SASL_SSL".into(),
                "sasl.mechanism=SCRAM-SHA-512".into(),
                format!("sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"ops\" password=\"{password}\";"),
                "ssl.truststore.type=PEM".into(),
                format!("ssl.truststore.location={}", pki.file("ca.pem")),
            ],
        )
    };
    let good = config("ops-secret");
    // SCRAM may take a moment to reach the SASL_SSL listener's shard after the set.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (ok, out) = support::weir(&[
            "user",
            "scram",
            "describe",
            "--bootstrap-server",
            &sasl_ssl,
            "--command-config",
            &good,
        ]);
        if ok {
            assert!(
                out.contains("ops") && out.contains("SCRAM-SHA-512"),
                "{out}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "{out}");
        std::thread::sleep(Duration::from_millis(200));
    }
    // librdkafka, built with OpenSSL, does the TLS and the SCRAM-SHA-512 login itself.
    librdkafka_tools_round_trip(&sasl_ssl, &good, "over-sasl-ssl");
    let (ok, out) = support::weir(&[
        "quota",
        "set",
        "--bootstrap-server",
        &sasl_ssl,
        "--command-config",
        &good,
        "--client-id",
        "reports",
        "--consumer-byte-rate",
        "1048576",
    ]);
    assert!(ok, "{out}");

    let started = Instant::now();
    let (ok, out) = support::weir(&[
        "quota",
        "describe",
        "--bootstrap-server",
        &sasl_ssl,
        "--command-config",
        &config("wrong"),
    ]);
    assert!(!ok && out.contains("SASL_AUTHENTICATION_FAILED"), "{out}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let (ok, out) = support::weir(&[
        "quota",
        "describe",
        "--bootstrap-server",
        &sasl_ssl,
        "--command-config",
        &command_config(&pki, "bad.properties", &["ssl.truststore.type=JKS".into()]),
    ]);
    assert!(!ok && out.contains("only PEM"), "{out}");
}

#[test]
fn brokers_replicate_over_a_tls_inter_broker_listener() {
    let pki = Pki::new();
    let plain_login = "listener.name.internal.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"broker-secret\" user_broker=\"broker-secret\";";
    for (protocol, extra) in [
        ("SSL", vec![]),
        (
            "SASL_SSL",
            vec![
                "sasl.mechanism.inter.broker.protocol=PLAIN".to_string(),
                plain_login.to_string(),
            ],
        ),
    ] {
        replicate_over(&pki, (protocol, "PLAINTEXT"), extra);
    }
}

/// Followers and transaction markers reach the leaders on INTERNAL (`protocol`), the nodes
/// reach the voters on CONTROLLER (`controller`): an ISR of 3 right after an acks=all produce
/// shows they spoke the protocols (and logged in) to each other. Returns the running cluster.
fn replicate_over(
    pki: &Pki,
    (protocol, controller): (&str, &str),
    extra: Vec<String>,
) -> support::cluster::Cluster {
    let mut overrides = vec![
        "listeners=PLAINTEXT://{node.host}:{node.port},INTERNAL://{node.host}:{node.spare_port},CONTROLLER://{node.host}:{node.controller_port}".to_string(),
        format!("listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:{protocol},CONTROLLER:{controller}"),
        "inter.broker.listener.name=INTERNAL".to_string(),
        format!("ssl.keystore.location={}", pki.file("broker-keystore.pem")),
        format!("ssl.truststore.location={}", pki.file("ca.pem")),
        "offsets.topic.num.partitions=1".to_string(),
        "default.replication.factor=3".to_string(),
    ];
    overrides.extend(extra);
    let cluster = support::cluster::Cluster::start(3, &overrides);
    let bootstrap = cluster.bootstrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let settings = [
            "acks=all".to_string(),
            "message.timeout.ms=5000".to_string(),
        ];
        let (ok, out) = kcat(
            &bootstrap,
            &settings,
            &["-P", "-t", "replicated"],
            Some("v\n"),
        );
        if ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{protocol}: acks=all produce: {out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ok, out) = kcat(
            &bootstrap,
            &[],
            &["-L", "-t", "replicated", "-m", "10"],
            None,
        );
        let isr = out
            .lines()
            .find_map(|line| line.split("isrs: ").nth(1))
            .unwrap_or_default();
        if ok && isr.split(',').count() == 3 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{protocol}: every replica in sync: {out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    cluster
}

#[test]
fn the_controller_listener_speaks_mutual_tls_to_super_users_only() {
    // CONTROLLER:SSL with client certificates required: the voters' Raft traffic and every
    // broker's registration, heartbeats and forwarded requests travel over TLS, each node
    // presenting its certificate, whose subject is a super user (Kafka's rule for the
    // principals of nodes on the controller listener: CLUSTER_ACTION).
    let pki = Pki::new();
    let cluster = replicate_over(
        &pki,
        ("PLAINTEXT", "SSL"),
        vec![
            "ssl.client.auth=required".to_string(),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer"
                .to_string(),
            // The nodes' certificate (CN=localhost) on the controller listener; anonymous
            // PLAINTEXT clients and followers on the other listeners.
            "super.users=User:CN=localhost;User:ANONYMOUS".to_string(),
        ],
    );
    let node = &cluster.nodes[0];
    let port = node.controller_port.to_string();
    let probe = |certificate: &[&str]| {
        let mut args = vec![node.host.as_str(), port.as_str()];
        let ca = pki.file("ca.pem");
        args.push(&ca);
        let files: Vec<String> = certificate.iter().map(|f| pki.file(f)).collect();
        args.extend(files.iter().map(String::as_str));
        run_script("controller_probe.py", &args)
    };
    // No certificate, or one from another CA: the handshake fails.
    let out = probe(&[]);
    assert!(out.starts_with("handshake-failed"), "{out}");
    let out = probe(&["stranger.pem", "stranger.key"]);
    assert!(out.starts_with("handshake-failed"), "{out}");
    // A certificate the CA issued to a client, not a node: TLS succeeds, the frame is refused
    // and the connection closed without an answer.
    let out = probe(&["client.pem", "client.key"]);
    assert_eq!(out.trim(), "closed");
    // The refusal names the principal.
    cluster.assert_logged(0, &["CLUSTER_ACTION", "User:CN=alice"]);
    // The cluster still answers acks=all with every replica.
    let settings = [
        "acks=all".to_string(),
        "message.timeout.ms=10000".to_string(),
    ];
    let (ok, out) = kcat(
        &cluster.bootstrap(),
        &settings,
        &["-P", "-t", "replicated"],
        Some("w\n"),
    );
    assert!(ok, "{out}");
}
