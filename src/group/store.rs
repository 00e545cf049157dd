//! Records of the internal `__consumer_offsets` topic, in Kafka's own formats so that Kafka's
//! tools would read them: an offset commit is key `OffsetCommitKey` v1 (group, topic,
//! partition) and value `OffsetCommitValue` v3 (offset, leader epoch, metadata, commit time); a
//! group is key `GroupMetadataKey` v2 and value `GroupMetadataValue` v3 (generation, protocol,
//! leader, members with subscriptions and assignments). A null value (a tombstone) deletes.
//! Loading replays the partition from the start: the last record of a key wins.

use bytes::{BufMut, Bytes, BytesMut};

use crate::schema_fields::{
    get_bytes, get_i16, get_i32, get_i64, get_nullable_string, get_string, put_bytes,
    put_nullable_string, put_string,
};

/// Kafka's name for the topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

const OFFSET_KEY_VERSION: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;
const GROUP_KEY_VERSION: i16 = 2;
const GROUP_VALUE_VERSION: i16 = 3;

/// A `__consumer_offsets` record key: an offset commit, or a group's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKey {
    Offset(OffsetKey),
    Group(String),
}

/// A group as Kafka's `GroupMetadataValue` v3 stores it: enough to resume a stable group after
/// a restart without a rebalance (members then have their session timeout to heartbeat).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupRecord {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: i64,
    pub members: Vec<MemberRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberRecord {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub subscription: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OffsetKey {
    pub group: String,
    pub topic: String,
    pub partition: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

pub fn encode_key(key: &OffsetKey) -> Bytes {
    let mut buf = BytesMut::with_capacity(8 + key.group.len() + key.topic.len());
    buf.put_i16(OFFSET_KEY_VERSION);
    put_string(&mut buf, &key.group);
    put_string(&mut buf, &key.topic);
    buf.put_i32(key.partition);
    buf.freeze()
}

pub fn encode_value(value: &CommittedOffset) -> Bytes {
    let mut buf = BytesMut::with_capacity(24 + value.metadata.len());
    buf.put_i16(OFFSET_VALUE_VERSION);
    buf.put_i64(value.offset);
    buf.put_i32(value.leader_epoch);
    put_string(&mut buf, &value.metadata);
    buf.put_i64(value.commit_timestamp_ms);
    buf.freeze()
}

pub fn encode_group_key(group: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + group.len());
    buf.put_i16(GROUP_KEY_VERSION);
    put_string(&mut buf, group);
    buf.freeze()
}

pub fn encode_group_value(group: &GroupRecord) -> Bytes {
    let mut buf = BytesMut::with_capacity(128);
    buf.put_i16(GROUP_VALUE_VERSION);
    put_string(&mut buf, &group.protocol_type);
    buf.put_i32(group.generation);
    put_nullable_string(&mut buf, group.protocol.as_deref());
    put_nullable_string(&mut buf, group.leader.as_deref());
    buf.put_i64(group.state_timestamp_ms);
    buf.put_i32(group.members.len() as i32);
    for m in &group.members {
        put_string(&mut buf, &m.member_id);
        put_nullable_string(&mut buf, m.instance_id.as_deref());
        put_string(&mut buf, &m.client_id);
        put_string(&mut buf, &m.client_host);
        buf.put_i32(m.rebalance_timeout_ms);
        buf.put_i32(m.session_timeout_ms);
        put_bytes(&mut buf, &m.subscription);
        put_bytes(&mut buf, &m.assignment);
    }
    buf.freeze()
}

/// Group metadata values v3 (what this broker writes; Kafka writes the same).
pub fn decode_group_value(mut buf: &[u8]) -> Option<GroupRecord> {
    if get_i16(&mut buf)? != GROUP_VALUE_VERSION {
        return None;
    }
    let protocol_type = get_string(&mut buf)?;
    let generation = get_i32(&mut buf)?;
    let protocol = get_nullable_string(&mut buf)?;
    let leader = get_nullable_string(&mut buf)?;
    let state_timestamp_ms = get_i64(&mut buf)?;
    let count = usize::try_from(get_i32(&mut buf)?).ok()?;
    let mut members = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        members.push(MemberRecord {
            member_id: get_string(&mut buf)?,
            instance_id: get_nullable_string(&mut buf)?,
            client_id: get_string(&mut buf)?,
            client_host: get_string(&mut buf)?,
            rebalance_timeout_ms: get_i32(&mut buf)?,
            session_timeout_ms: get_i32(&mut buf)?,
            subscription: get_bytes(&mut buf)?,
            assignment: get_bytes(&mut buf)?,
        });
    }
    Some(GroupRecord {
        protocol_type,
        generation,
        protocol,
        leader,
        state_timestamp_ms,
        members,
    })
}

/// The kind of a `__consumer_offsets` record, by its key's version (0-1: offset commit, 2:
/// group metadata), or `None` for keys this broker does not know.
pub fn decode_key(mut buf: &[u8]) -> Option<RecordKey> {
    let version = get_i16(&mut buf)?;
    match version {
        0 | 1 => Some(RecordKey::Offset(OffsetKey {
            group: get_string(&mut buf)?,
            topic: get_string(&mut buf)?,
            partition: get_i32(&mut buf)?,
        })),
        GROUP_KEY_VERSION => Some(RecordKey::Group(get_string(&mut buf)?)),
        _ => None,
    }
}

/// Value versions 1 and 3 (Kafka's v1 carries an expiry instead of a leader epoch).
pub fn decode_value(mut buf: &[u8]) -> Option<CommittedOffset> {
    let version = get_i16(&mut buf)?;
    let offset = get_i64(&mut buf)?;
    let leader_epoch = if version >= 3 { get_i32(&mut buf)? } else { -1 };
    let metadata = get_string(&mut buf)?;
    let commit_timestamp_ms = get_i64(&mut buf)?;
    Some(CommittedOffset {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip() {
        let key = OffsetKey {
            group: "billing".into(),
            topic: "orders".into(),
            partition: 7,
        };
        let value = CommittedOffset {
            offset: 1234,
            leader_epoch: 2,
            metadata: "m".into(),
            commit_timestamp_ms: 99,
        };
        assert_eq!(decode_key(&encode_key(&key)), Some(RecordKey::Offset(key)));
        assert_eq!(decode_value(&encode_value(&value)), Some(value));
        assert_eq!(decode_key(&[0, 2, 0]), None);
        assert_eq!(
            decode_key(&encode_group_key("billing")),
            Some(RecordKey::Group("billing".into()))
        );
        let group = GroupRecord {
            protocol_type: "consumer".into(),
            generation: 4,
            protocol: Some("range".into()),
            leader: Some("m1".into()),
            state_timestamp_ms: 7,
            members: vec![MemberRecord {
                member_id: "m1".into(),
                instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 10_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        };
        assert_eq!(decode_group_value(&encode_group_value(&group)), Some(group));
        assert_eq!(decode_value(&[0, 3, 1]), None);
    }
}
