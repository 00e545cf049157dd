//! Records of the internal `__consumer_offsets` topic, in Kafka's own formats so that Kafka's
//! tools would read them: an offset commit is key `OffsetCommitKey` v1 (group, topic,
//! partition) and value `OffsetCommitValue` v3 (offset, leader epoch, metadata, commit time); a
//! deleted offset is the key with a null value (a tombstone). Loading replays the partition from
//! the start: the last record of a key wins.

use bytes::{BufMut, Bytes, BytesMut};

/// Kafka's name for the topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

const OFFSET_KEY_VERSION: i16 = 1;
const OFFSET_VALUE_VERSION: i16 = 3;

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

fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

fn get_i16(buf: &mut &[u8]) -> Option<i16> {
    let (head, rest) = buf.split_first_chunk::<2>()?;
    *buf = rest;
    Some(i16::from_be_bytes(*head))
}

fn get_i32(buf: &mut &[u8]) -> Option<i32> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    *buf = rest;
    Some(i32::from_be_bytes(*head))
}

fn get_i64(buf: &mut &[u8]) -> Option<i64> {
    let (head, rest) = buf.split_first_chunk::<8>()?;
    *buf = rest;
    Some(i64::from_be_bytes(*head))
}

fn get_string(buf: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(get_i16(buf)?).ok()?;
    let (s, rest) = buf.split_at_checked(len)?;
    *buf = rest;
    String::from_utf8(s.to_vec()).ok()
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

/// An offset commit key, or `None` for other record kinds (group metadata keys, versions 2+)
/// that this broker does not write.
pub fn decode_key(mut buf: &[u8]) -> Option<OffsetKey> {
    let version = get_i16(&mut buf)?;
    if !(0..=1).contains(&version) {
        return None;
    }
    Some(OffsetKey {
        group: get_string(&mut buf)?,
        topic: get_string(&mut buf)?,
        partition: get_i32(&mut buf)?,
    })
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
        assert_eq!(decode_key(&encode_key(&key)), Some(key));
        assert_eq!(decode_value(&encode_value(&value)), Some(value));
        assert_eq!(decode_key(&[0, 2, 0]), None);
        assert_eq!(decode_value(&[0, 3, 1]), None);
    }
}
