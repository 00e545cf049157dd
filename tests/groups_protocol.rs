//! The group APIs over the raw wire: the MEMBER_ID_REQUIRED handshake, generations, Kafka's
//! error codes for bad input (unknown members, stale generations, bad session timeouts,
//! oversized metadata, deleting a live group), batched FindCoordinator and multi-group
//! OffsetFetch.

mod support;

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use support::broker::Broker;
use support::kafka::create_topic;
use support::wire::{topic_name, Wire};

fn s(text: &str) -> StrBytes {
    StrBytes::from_string(text.to_string())
}

fn group_id(name: &str) -> GroupId {
    GroupId(s(name))
}

/// A consumer-protocol subscription (version 0) to `topics`, as clients send in JoinGroup.
fn subscription(topics: &[&str]) -> Bytes {
    use kafka_protocol::protocol::Encodable;
    let mut buf = bytes::BytesMut::new();
    buf.extend_from_slice(&0i16.to_be_bytes());
    ConsumerProtocolSubscription::default()
        .with_topics(topics.iter().map(|t| s(t)).collect())
        .encode(&mut buf, 0)
        .expect("encode subscription");
    buf.freeze()
}

fn join(
    wire: &mut Wire,
    group: &str,
    member_id: &str,
    session_timeout_ms: i32,
) -> JoinGroupResponse {
    wire.request(
        7,
        &JoinGroupRequest::default()
            .with_group_id(group_id(group))
            .with_session_timeout_ms(session_timeout_ms)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(s(member_id))
            .with_group_instance_id(None)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default()
                .with_name(s("range"))
                .with_metadata(subscription(&["t"]))]),
    )
}

fn commit(wire: &mut Wire, group: &str, generation: i32, member: &str, metadata: &str) -> i16 {
    let response = wire.request(
        8,
        &OffsetCommitRequest::default()
            .with_group_id(group_id(group))
            .with_generation_id_or_member_epoch(generation)
            .with_member_id(s(member))
            .with_group_instance_id(None)
            .with_topics(vec![OffsetCommitRequestTopic::default()
                .with_name(topic_name("t"))
                .with_partitions(vec![OffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(42)
                    .with_committed_metadata(Some(s(metadata)))])]),
    );
    response.topics[0].partitions[0].error_code
}

#[test]
fn one_member_joins_syncs_commits_and_bad_input_gets_kafka_errors() {
    let broker = Broker::start_with(&["group.initial.rebalance.delay.ms=0"]);
    let mut wire = Wire::connect(&broker.bootstrap());
    create_topic(&broker.bootstrap(), "t", 1);

    // FindCoordinator v4 with batched keys: this broker for each.
    let found = wire.request(
        4,
        &FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g"), s("other")]),
    );
    assert_eq!(found.coordinators.len(), 2);
    assert!(found
        .coordinators
        .iter()
        .all(|c| c.error_code == 0 && c.port as u16 == broker.port));

    // Session timeout outside group.min/max.session.timeout.ms.
    assert_eq!(
        join(&mut wire, "g", "", 1000).error_code,
        26,
        "INVALID_SESSION_TIMEOUT"
    );

    // v4+: the first join answers MEMBER_ID_REQUIRED with the id to use.
    let first = join(&mut wire, "g", "", 10_000);
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member = first.member_id.as_str().to_string();
    assert!(!member.is_empty());
    let joined = join(&mut wire, "g", &member, 10_000);
    assert_eq!(joined.error_code, 0);
    assert_eq!(joined.generation_id, 1);
    assert_eq!(joined.leader.as_str(), member, "the only member leads");
    assert_eq!(joined.members.len(), 1);
    assert_eq!(
        joined.protocol_name.as_ref().map(|p| p.as_str()),
        Some("range")
    );

    let synced = wire.request(
        5,
        &SyncGroupRequest::default()
            .with_group_id(group_id("g"))
            .with_generation_id(1)
            .with_member_id(s(&member))
            .with_group_instance_id(None)
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::from_static(b"partition 0"))]),
    );
    assert_eq!(synced.error_code, 0);
    assert_eq!(&synced.assignment[..], b"partition 0");

    let heartbeat = |wire: &mut Wire, generation: i32, member: &str| {
        wire.request(
            4,
            &HeartbeatRequest::default()
                .with_group_id(group_id("g"))
                .with_generation_id(generation)
                .with_member_id(s(member))
                .with_group_instance_id(None),
        )
        .error_code
    };
    assert_eq!(heartbeat(&mut wire, 1, &member), 0);
    assert_eq!(heartbeat(&mut wire, 7, &member), 22, "ILLEGAL_GENERATION");
    assert_eq!(heartbeat(&mut wire, 1, "nobody"), 25, "UNKNOWN_MEMBER_ID");

    assert_eq!(commit(&mut wire, "g", 1, &member, "ok"), 0);
    assert_eq!(
        commit(&mut wire, "g", 0, &member, "ok"),
        22,
        "stale generation"
    );
    assert_eq!(
        commit(&mut wire, "g", 1, "nobody", "ok"),
        25,
        "unknown member"
    );
    assert_eq!(
        commit(&mut wire, "g", -1, "", "ok"),
        25,
        "no membership in a live group"
    );
    assert_eq!(
        commit(&mut wire, "g", 1, &member, &"m".repeat(5000)),
        12,
        "OFFSET_METADATA_TOO_LARGE"
    );
    // A group nobody joined takes simple commits (assign() consumers, tools).
    assert_eq!(commit(&mut wire, "solo", -1, "", "ok"), 0);

    // OffsetFetch v8: several groups in one request.
    let fetched = wire.request(
        8,
        &OffsetFetchRequest::default().with_groups(vec![
            OffsetFetchRequestGroup::default()
                .with_group_id(group_id("g"))
                .with_topics(None),
            OffsetFetchRequestGroup::default()
                .with_group_id(group_id("solo"))
                .with_topics(None),
        ]),
    );
    assert_eq!(fetched.groups.len(), 2);
    for group in &fetched.groups {
        assert_eq!(group.error_code, 0);
        assert_eq!(group.topics[0].partitions[0].committed_offset, 42);
    }

    // OffsetDelete: refused for a topic the live group subscribes to; done for a group
    // nobody is in.
    let delete_offsets = |wire: &mut Wire, group: &str| {
        let response = wire.request(
            0,
            &OffsetDeleteRequest::default()
                .with_group_id(group_id(group))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic_name("t"))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]),
        );
        (
            response.error_code,
            response.topics.first().map(|t| t.partitions[0].error_code),
        )
    };
    assert_eq!(
        delete_offsets(&mut wire, "g"),
        (0, Some(86)),
        "GROUP_SUBSCRIBED_TO_TOPIC"
    );
    assert_eq!(
        delete_offsets(&mut wire, "nope"),
        (69, None),
        "GROUP_ID_NOT_FOUND"
    );
    assert_eq!(commit(&mut wire, "scratch", -1, "", "x"), 0);
    assert_eq!(delete_offsets(&mut wire, "scratch"), (0, Some(0)));
    let scratch = wire.request(
        7,
        &OffsetFetchRequest::default()
            .with_group_id(group_id("scratch"))
            .with_topics(None),
    );
    assert!(scratch.topics.is_empty(), "the offset was deleted");

    let described = wire.request(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![group_id("g"), group_id("ghost")]),
    );
    assert_eq!(described.groups[0].group_state.as_str(), "Stable");
    assert_eq!(described.groups[0].members.len(), 1);
    assert_eq!(
        &described.groups[0].members[0].member_assignment[..],
        b"partition 0"
    );
    assert_eq!(
        described.groups[1].group_state.as_str(),
        "Dead",
        "unknown group"
    );
    assert_eq!(described.groups[1].error_code, 0);

    let listed = wire.request(4, &ListGroupsRequest::default());
    let names: Vec<&str> = listed
        .groups
        .iter()
        .map(|g| g.group_id.0.as_str())
        .collect();
    assert!(names.contains(&"g") && names.contains(&"solo"), "{names:?}");

    let delete = |wire: &mut Wire, name: &str| {
        wire.request(
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![group_id(name)]),
        )
        .results[0]
            .error_code
    };
    assert_eq!(delete(&mut wire, "g"), 68, "NON_EMPTY_GROUP");
    assert_eq!(delete(&mut wire, "ghost"), 69, "GROUP_ID_NOT_FOUND");

    let left = wire.request(
        4,
        &LeaveGroupRequest::default()
            .with_group_id(group_id("g"))
            .with_members(vec![leave_group_request::MemberIdentity::default()
                .with_member_id(s(&member))
                .with_group_instance_id(None)]),
    );
    assert_eq!(left.error_code, 0);
    assert_eq!(left.members[0].error_code, 0);
    assert_eq!(delete(&mut wire, "g"), 0, "an empty group can be deleted");
    let after = wire.request(
        7,
        &OffsetFetchRequest::default()
            .with_group_id(group_id("g"))
            .with_topics(None),
    );
    assert!(after.topics.is_empty(), "its offsets went with it");
}

#[test]
fn a_static_member_replaced_by_a_new_instance_is_fenced() {
    let broker = Broker::start_with(&["group.initial.rebalance.delay.ms=0"]);
    let mut wire = Wire::connect(&broker.bootstrap());
    let static_join = |wire: &mut Wire, member: &str| {
        wire.request(
            7,
            &JoinGroupRequest::default()
                .with_group_id(group_id("statics"))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_member_id(s(member))
                .with_group_instance_id(Some(s("instance-1")))
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![JoinGroupRequestProtocol::default()
                    .with_name(s("range"))
                    .with_metadata(subscription(&["t"]))]),
        )
    };
    // Static members get their id at once (no MEMBER_ID_REQUIRED round trip).
    let old = static_join(&mut wire, "");
    assert_eq!(old.error_code, 0);
    let old_id = old.member_id.as_str().to_string();
    // The same instance starts again: it gets a new member id and the old one is fenced.
    let new = static_join(&mut wire, "");
    assert_eq!(new.error_code, 0);
    assert_ne!(new.member_id.as_str(), old_id);
    let heartbeat = wire.request(
        4,
        &HeartbeatRequest::default()
            .with_group_id(group_id("statics"))
            .with_generation_id(new.generation_id)
            .with_member_id(s(&old_id))
            .with_group_instance_id(Some(s("instance-1"))),
    );
    assert_eq!(heartbeat.error_code, 82, "FENCED_INSTANCE_ID");
}

#[test]
fn a_stable_group_survives_a_broker_restart_without_a_rebalance() {
    let mut broker = Broker::start_with(&["group.initial.rebalance.delay.ms=0"]);
    let mut wire = Wire::connect(&broker.bootstrap());
    let member = join(&mut wire, "durable", "", 30_000)
        .member_id
        .as_str()
        .to_string();
    let joined = join(&mut wire, "durable", &member, 30_000);
    assert_eq!(joined.error_code, 0);
    let synced = wire.request(
        5,
        &SyncGroupRequest::default()
            .with_group_id(group_id("durable"))
            .with_generation_id(joined.generation_id)
            .with_member_id(s(&member))
            .with_group_instance_id(None)
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(s(&member))
                .with_assignment(Bytes::from_static(b"mine"))]),
    );
    assert_eq!(synced.error_code, 0);

    // Group metadata (GroupMetadataValue v3 in __consumer_offsets) brings the generation, the
    // member and its assignment back; its heartbeat is accepted as if nothing happened.
    broker.restart();
    let mut wire = Wire::connect(&broker.bootstrap());
    let heartbeat = wire.request(
        4,
        &HeartbeatRequest::default()
            .with_group_id(group_id("durable"))
            .with_generation_id(joined.generation_id)
            .with_member_id(s(&member))
            .with_group_instance_id(None),
    );
    assert_eq!(heartbeat.error_code, 0);
    let described = wire.request(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![group_id("durable")]),
    );
    let group = &described.groups[0];
    assert_eq!(group.group_state.as_str(), "Stable");
    assert_eq!(group.members.len(), 1);
    assert_eq!(&group.members[0].member_assignment[..], b"mine");
}
