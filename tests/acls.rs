//! Authorization with a real client and a real broker (issue 21): Kafka's StandardAuthorizer
//! rules (`authorizer.class.name`, `super.users`), ACLs made, listed and removed with
//! kafka-python's admin client (CreateAcls, DescribeAcls, DeleteAcls), produce refused with
//! TOPIC_AUTHORIZATION_FAILED until allowed, PREFIXED patterns, DENY over ALLOW, Metadata
//! listing only what the principal may describe, CLUSTER_AUTHORIZATION_FAILED for a non-admin
//! changing ACLs, and SECURITY_DISABLED without an authorizer.

mod support;

use kafka_protocol::messages::DescribeAclsRequest;

use support::broker::{free_port, Broker};
use support::python::run_script;
use support::wire::Wire;

#[test]
fn acls_decide_what_a_sasl_user_may_do() {
    let sasl_port = free_port();
    let broker = Broker::start_with(&[
        &format!("listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_PLAINTEXT://127.0.0.1:{sasl_port}"),
        "sasl.plain.users=alice:alice-pw,admin:admin-pw",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        // The PLAINTEXT listener is the inter-broker one: its clients are User:ANONYMOUS.
        "super.users=User:admin;User:ANONYMOUS",
    ]);
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
