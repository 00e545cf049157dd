//! Authorization with a real client and a real broker (issue 21): Kafka's StandardAuthorizer
//! rules (`authorizer.class.name`, `super.users`), ACLs made, listed and removed with
//! kafka-python's admin client (CreateAcls, DescribeAcls, DeleteAcls), produce refused with
//! TOPIC_AUTHORIZATION_FAILED until allowed, PREFIXED patterns, DENY over ALLOW, Metadata
//! listing only what the principal may describe, CLUSTER_AUTHORIZATION_FAILED for a non-admin
//! changing ACLs, and SECURITY_DISABLED without an authorizer; ACLs made with `weir acl`
//! surviving a restart, and applying on every broker of a 3-broker cluster; group and
//! transactional-id ACLs through kafka-python's consumer and transactional producer; a mutual-TLS
//! client certificate's subject, mapped by `ssl.principal.mapping.rules`, as the principal.

mod support;

use std::time::{Duration, Instant};

use kafka_protocol::messages::DescribeAclsRequest;

use support::broker::{free_port, Broker};
use support::cluster::Cluster;
use support::kafka::create_topic;
use support::kcat::{kcat, sasl_settings};
use support::pki::Pki;
use support::python::run_script;
use support::weir;
use support::wire::Wire;

/// A broker with the StandardAuthorizer, PLAINTEXT on its usual port and SASL_PLAINTEXT (PLAIN
/// users alice and admin) on `sasl_port`; admin is a super user, and so is User:ANONYMOUS (the
/// PLAINTEXT listener's clients: the tests' tools and the inter-broker listener).
fn authorizing_broker(sasl_port: u16, extra: &[&str]) -> Broker {
    let listeners =
        format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}");
    let mut settings = vec![
        listeners.as_str(),
        "sasl.plain.users=alice:alice-pw,admin:admin-pw",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users=User:admin;User:ANONYMOUS",
    ];
    settings.extend_from_slice(extra);
    Broker::start_with(&settings)
}

#[test]
fn acls_decide_what_a_sasl_user_may_do() {
    let sasl_port = free_port();
    let broker = authorizing_broker(sasl_port, &[]);
    let out = run_script("acls.py", &[&format!("127.0.0.1:{sasl_port}")]);
    for expected in [
        "before=TopicAuthorizationFailedError",
        "created=1",
        "prefixed=ok",
        "other=TopicAuthorizationFailedError",
        "visible=orders,orders-eu",
        "alice_create=ClusterAuthorizationFailedError",
        "denied=TopicAuthorizationFailedError",
        "still=ok",
        "described=2",
        "deleted=2",
        "after=TopicAuthorizationFailedError",
    ] {
        assert!(
            out.lines().any(|line| line == expected),
            "expected {expected} in:\n{out}"
        );
    }
    drop(broker);
}

#[test]
fn acl_requests_without_an_authorizer_answer_security_disabled() {
    let broker = Broker::start();
    let mut wire = Wire::connect(&broker.bootstrap());
    let response = wire.request(
        1,
        &DescribeAclsRequest::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1),
    );
    assert_eq!(response.error_code, 54, "SECURITY_DISABLED");
}

/// `weir acl` against the PLAINTEXT listener (User:ANONYMOUS, a super user here).
fn acl_tool(bootstrap: &str, args: &[&str]) -> String {
    let mut all = vec!["acl"];
    all.extend_from_slice(&args[..1]);
    all.extend_from_slice(&["--bootstrap-server", bootstrap]);
    all.extend_from_slice(&args[1..]);
    let (ok, out) = weir(&all);
    assert!(ok, "weir {all:?}: {out}");
    out
}

/// alice, logged in with PLAIN, producing one record to `topic` with kcat: whether it was
/// accepted, and kcat's output.
fn alice_produces(sasl: &str, topic: &str) -> (bool, String) {
    kcat(
        sasl,
        &sasl_settings("PLAIN", "alice", "alice-pw"),
        &["-P", "-t", topic, "-X", "message.timeout.ms=5000"],
        Some("hello\n"),
    )
}

#[test]
fn acls_made_with_weir_acl_survive_a_restart() {
    let sasl_port = free_port();
    let mut broker = authorizing_broker(sasl_port, &["auto.create.topics.enable=false"]);
    let bootstrap = broker.bootstrap();
    let sasl = format!("127.0.0.1:{sasl_port}");
    create_topic(&bootstrap, "orders", 1);
    create_topic(&bootstrap, "secret", 1);
    let (ok, out) = alice_produces(&sasl, "orders");
    assert!(!ok && out.contains("authoriz"), "before the ACL: {out}");

    acl_tool(
        &bootstrap,
        &[
            "add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--operation",
            "describe",
            "--topic",
            "ord",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    // The broker applies the controller's ACL records moments after CreateAcls is answered.
    support::kafka::wait_until("the ACLs listed", Duration::from_secs(10), || {
        let listed = acl_tool(&bootstrap, &["list", "--output", "json"]);
        let acls: serde_json::Value = serde_json::from_str(listed.trim()).expect("json");
        acls["acls"].as_array().map(Vec::len) == Some(2)
    });
    let matching = acl_tool(
        &bootstrap,
        &[
            "list",
            "--topic",
            "orders",
            "--resource-pattern-type",
            "match",
        ],
    );
    assert!(
        matching.contains("User:alice")
            && matching.contains("WRITE")
            && matching.contains("PREFIXED"),
        "{matching}"
    );

    broker.restart();
    let sasl = format!("127.0.0.1:{sasl_port}");
    let (ok, out) = alice_produces(&sasl, "orders");
    assert!(ok, "after the restart, the ACL still allows: {out}");
    let (ok, out) = alice_produces(&sasl, "secret");
    assert!(!ok && out.contains("authoriz"), "another topic: {out}");

    let removed = acl_tool(
        &bootstrap,
        &[
            "remove",
            "--allow-principal",
            "User:alice",
            "--topic",
            "ord",
            "--resource-pattern-type",
            "prefixed",
        ],
    );
    assert!(removed.contains("removed 2 ACLs"), "{removed}");
    assert_eq!(
        acl_tool(&bootstrap, &["list"]).lines().count(),
        1,
        "only the header is left"
    );
}

#[test]
fn an_acl_made_on_one_broker_applies_on_every_broker_of_a_cluster() {
    let cluster = Cluster::start(
        3,
        &[
            "listeners=PLAINTEXT://{node.host}:{node.port},SASL_PLAINTEXT://{node.host}:{node.spare_port},CONTROLLER://{node.host}:{node.controller_port}".to_string(),
            "sasl.plain.users=alice:alice-pw".to_string(),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
            "super.users=User:ANONYMOUS".to_string(),
            "offsets.topic.num.partitions=1".to_string(),
        ],
    );
    let bootstrap = cluster.bootstrap();
    create_topic(&bootstrap, "orders", 3);
    create_topic(&bootstrap, "secret", 3);
    // Made through the last node; CreateAcls goes to the active controller (KIP-590) and the
    // ACL reaches every broker through the metadata log.
    let last = &cluster.nodes[2];
    acl_tool(
        &format!("{}:{}", last.host, last.port),
        &[
            "add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Describe",
            "--topic",
            "orders",
        ],
    );
    for node in &cluster.nodes {
        let sasl = format!("{}:{}", node.host, node.spare_port);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            // Metadata from this node lists only the topics alice may describe.
            let (ok, out) = kcat(
                &sasl,
                &sasl_settings("PLAIN", "alice", "alice-pw"),
                &["-L", "-m", "5"],
                None,
            );
            let visible = |topic: &str| out.contains(&format!("topic \"{topic}\""));
            if ok && visible("orders") {
                assert!(!visible("secret"), "node {}: {out}", node.id);
                break;
            }
            assert!(Instant::now() < deadline, "node {}: {out}", node.id);
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[test]
fn group_and_transactional_id_acls_decide_what_a_client_may_do() {
    let sasl_port = free_port();
    let _broker = authorizing_broker(
        sasl_port,
        &[
            "offsets.topic.num.partitions=1",
            "transaction.state.log.num.partitions=1",
        ],
    );
    let out = run_script("acl_groups.py", &[&format!("127.0.0.1:{sasl_port}")]);
    for expected in [
        "group_before=GroupAuthorizationFailedError",
        "group_after=3",
        "txn_before=TransactionalIdAuthorizationFailedError",
        "txn_after=ok",
    ] {
        assert!(
            out.lines().any(|line| line == expected),
            "expected {expected} in:\n{out}"
        );
    }
}

#[test]
fn a_client_certificate_is_the_principal_acls_name() {
    let pki = Pki::new();
    let ssl_port = free_port();
    let mut settings = pki.mutual_tls_broker(ssl_port);
    settings.extend(
        [
            // The client certificate's subject is CN=alice,O=weir (RFC 2253): User:alice.
            "ssl.principal.mapping.rules=RULE:^CN=([^,]*),.*$/$1/L,DEFAULT",
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users=User:ANONYMOUS",
            "auto.create.topics.enable=false",
        ]
        .map(String::from),
    );
    let broker = Broker::start_with(&settings.iter().map(String::as_str).collect::<Vec<_>>());
    let bootstrap = broker.bootstrap();
    create_topic(&bootstrap, "mtls", 1);
    create_topic(&bootstrap, "secret", 1);
    let ssl = format!("127.0.0.1:{ssl_port}");
    let mut settings = pki.client_with_certificate("client");
    settings.push("message.timeout.ms=5000".to_string());
    let produce = |topic: &str| kcat(&ssl, &settings, &["-P", "-t", topic], Some("hello\n"));
    let (ok, out) = produce("mtls");
    assert!(!ok && out.contains("authoriz"), "before the ACL: {out}");
    acl_tool(
        &bootstrap,
        &[
            "add",
            "--allow-principal",
            "User:alice",
            "--operation",
            "Write",
            "--topic",
            "mtls",
        ],
    );
    support::kafka::wait_until("alice may write", Duration::from_secs(10), || {
        produce("mtls").0
    });
    let (ok, out) = produce("secret");
    assert!(!ok && out.contains("authoriz"), "another topic: {out}");
    assert!(
        broker.log().contains("principal=\"User:alice\""),
        "the refusal names the mapped principal"
    );
}

#[test]
fn brokers_log_in_to_each_other_and_replicate_as_a_super_user() {
    // The brokers reach each other on INTERNAL (SASL_PLAINTEXT, SCRAM-SHA-256 with the user
    // made at format time) and the voters on CONTROLLER (SASL_PLAINTEXT, PLAIN from the
    // listener's JAAS entry); User:ANONYMOUS on the PLAINTEXT listener is no super user, so a
    // follower's fetch, a broker's registration and the Raft traffic are allowed only because
    // they logged in as User:broker.
    let jaas = |options: &str| {
        format!("org.apache.kafka.common.security.scram.ScramLoginModule required {options};")
    };
    let mut cluster = Cluster::start(
        3,
        &[
            "listeners=PLAINTEXT://{node.host}:{node.port},INTERNAL://{node.host}:{node.spare_port},CONTROLLER://{node.host}:{node.controller_port}".to_string(),
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT".to_string(),
            "inter.broker.listener.name=INTERNAL".to_string(),
            "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-256".to_string(),
            format!(
                "listener.name.internal.scram-sha-256.sasl.jaas.config={}",
                jaas("username=\"broker\" password=\"broker-secret\"")
            ),
            "sasl.mechanism.controller.protocol=PLAIN".to_string(),
            // alice may log in to the controller listener, but is no node.
            "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"broker-secret\" user_broker=\"broker-secret\" user_alice=\"alice-secret\";".to_string(),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
            "super.users=User:broker".to_string(),
            "offsets.topic.num.partitions=1".to_string(),
            "default.replication.factor=3".to_string(),
        ],
    );
    // A new cluster whose SCRAM user exists from the start (weir storage format).
    cluster.reformat(&["SCRAM-SHA-256=[name=broker,password=broker-secret]"]);
    let node = &cluster.nodes[0];
    let internal = format!("{}:{}", node.host, node.spare_port);
    let broker = sasl_settings("SCRAM-SHA-256", "broker", "broker-secret");
    // Produced with acks=all to an auto-created topic of 3 replicas: answered only once the
    // followers, fetching as User:broker, have the records.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut settings = broker.clone();
        settings.push("acks=all".to_string());
        settings.push("message.timeout.ms=5000".to_string());
        let (ok, out) = kcat(
            &internal,
            &settings,
            &["-P", "-t", "replicated"],
            Some("v\n"),
        );
        if ok {
            break;
        }
        if Instant::now() >= deadline {
            let (_, meta) = kcat(
                &internal,
                &broker,
                &["-L", "-m", "10", "-d", "protocol,metadata"],
                None,
            );
            panic!("acks=all produce: {out}\n{meta}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let (ok, out) = kcat(
        &internal,
        &broker,
        &["-L", "-t", "replicated", "-m", "10"],
        None,
    );
    assert!(ok, "{out}");
    let isr = out
        .lines()
        .find_map(|line| line.split("isrs: ").nth(1))
        .unwrap_or_default();
    assert_eq!(isr.split(',').count(), 3, "every replica in sync: {out}");
    // The PLAINTEXT listener's anonymous clients are refused as a follower would be.
    let anonymous = format!("{}:{}", node.host, node.port);
    let (ok, out) = kcat(&anonymous, &[], &["-P", "-t", "replicated"], Some("v\n"));
    assert!(!ok || out.contains("authoriz"), "{out}");
    // The controller listener: a frame before a login closes the connection; a wrong password
    // is SASL_AUTHENTICATION_FAILED; a user who is no node logs in, but its first frame is
    // refused (CLUSTER_ACTION) and the connection closed.
    let controller = format!("{}:{}", node.host, node.controller_port);
    let raft_frame = [0u8, 0, 0, 1, 1];
    let mut stranger = Wire::connect(&controller);
    stranger.send_raw(&raft_frame);
    assert!(stranger.is_closed(), "a frame before the login");
    let mut wrong = Wire::connect(&controller);
    assert_eq!(Wire::plain_login(&mut wrong, "broker", "guess").0, 58);
    let mut alice = Wire::connect(&controller);
    assert_eq!(Wire::plain_login(&mut alice, "alice", "alice-secret").0, 0);
    alice.send_raw(&raft_frame);
    assert!(alice.is_closed(), "a user without CLUSTER_ACTION");
    // The refusal names the principal.
    cluster.assert_logged(0, &["CLUSTER_ACTION", "User:alice"]);
    // The cluster still answers: Raft and registrations go on over the secured listener.
    let mut settings = broker.clone();
    settings.push("acks=all".to_string());
    let (ok, out) = kcat(
        &internal,
        &settings,
        &["-P", "-t", "replicated"],
        Some("w\n"),
    );
    assert!(ok, "{out}");
}

#[test]
fn broker_only_nodes_log_in_to_the_controllers() {
    // A controller-only node and two broker-only nodes (one finding it through
    // controller.quorum.bootstrap.servers, one through controller.quorum.voters), their
    // CONTROLLER listener SASL_PLAINTEXT: each broker registers, heartbeats and follows the
    // metadata only because it logs in as User:broker, a super user. Anonymous PLAINTEXT
    // clients are super users here too, so the test's tools may create and produce.
    let cluster = Cluster::start_separate(
        1,
        2,
        &[
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT".to_string(),
            "sasl.mechanism.controller.protocol=PLAIN".to_string(),
            "listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"broker\" password=\"broker-secret\" user_broker=\"broker-secret\";".to_string(),
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer".to_string(),
            "super.users=User:broker;User:ANONYMOUS".to_string(),
            "offsets.topic.num.partitions=1".to_string(),
            "default.replication.factor=2".to_string(),
        ],
    );
    // Both brokers registered (the metadata lists them), and a topic with a replica on each
    // takes an acks=all write: the controller placed it and each applied its metadata.
    let bootstrap = cluster.bootstrap();
    let settings = [
        "acks=all".to_string(),
        "message.timeout.ms=10000".to_string(),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (ok, out) = kcat(&bootstrap, &settings, &["-P", "-t", "two"], Some("v\n"));
        if ok {
            break;
        }
        assert!(Instant::now() < deadline, "acks=all produce: {out}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (ok, out) = kcat(&bootstrap, &[], &["-L", "-t", "two", "-m", "10"], None);
    assert!(ok && out.contains(" 2 brokers:"), "{out}");
    assert!(
        out.contains("replicas: 1,2") || out.contains("replicas: 2,1"),
        "{out}"
    );
}
