//! Records of the internal `__transaction_state` topic, in Kafka's formats so that Kafka's
//! tools read them: key `TransactionLogKey` v0 (the transactional id) and value
//! `TransactionLogValue` (producer id and epoch, timeout, state, partitions, timestamps). Weir
//! writes value v0, as Kafka 3.x does, and reads v0 and the flexible v1 (whose tagged fields
//! it skips). A null value (a tombstone) removes an expired id. Loading replays the partition
//! from its start: the last record of a key wins.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};

use super::state::{TxnMetadata, TxnPartition, TxnState, NO_PRODUCER_EPOCH};
use crate::schema_fields::{
    get_compact_len, get_compact_string, get_i16, get_i32, get_i64, get_i8, get_string,
    get_tagged_fields, put_string,
};

/// Kafka's name for the topic.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 0;

pub fn encode_key(transactional_id: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(4 + transactional_id.len());
    buf.put_i16(KEY_VERSION);
    put_string(&mut buf, transactional_id);
    buf.freeze()
}

/// The transactional id of a key; `None` for a key that is not TransactionLogKey v0.
pub fn decode_key(mut buf: &[u8]) -> Option<String> {
    match get_i16(&mut buf)? {
        KEY_VERSION => get_string(&mut buf),
        _ => None,
    }
}

pub fn encode_value(meta: &TxnMetadata) -> Bytes {
    let mut buf = BytesMut::with_capacity(64 + 16 * meta.partitions.len());
    buf.put_i16(VALUE_VERSION);
    buf.put_i64(meta.producer_id);
    buf.put_i16(meta.producer_epoch);
    buf.put_i32(meta.timeout_ms);
    buf.put_i8(meta.state.id());
    // Partitions grouped by topic, as Kafka writes them; null for an Empty id (either reads
    // back as no partitions).
    let mut topics: Vec<(&str, Vec<i32>)> = Vec::new();
    for tp in &meta.partitions {
        match topics.last_mut() {
            Some((topic, partitions)) if *topic == tp.topic => partitions.push(tp.partition),
            _ => topics.push((&tp.topic, vec![tp.partition])),
        }
    }
    match meta.state {
        TxnState::Empty => buf.put_i32(-1),
        _ => buf.put_i32(topics.len() as i32),
    }
    for (topic, partitions) in topics {
        put_string(&mut buf, topic);
        buf.put_i32(partitions.len() as i32);
        for partition in partitions {
            buf.put_i32(partition);
        }
    }
    buf.put_i64(meta.last_update_ms);
    buf.put_i64(meta.start_ms);
    buf.freeze()
}

/// The metadata of `transactional_id` from a value; `None` when it does not parse (an
/// unknown version, a short record, an unknown state).
pub fn decode_value(transactional_id: &str, mut buf: &[u8]) -> Option<TxnMetadata> {
    let version = get_i16(&mut buf)?;
    let flexible = match version {
        0 => false,
        1 => true,
        _ => return None,
    };
    let producer_id = get_i64(&mut buf)?;
    let producer_epoch = get_i16(&mut buf)?;
    let timeout_ms = get_i32(&mut buf)?;
    let state = TxnState::from_id(get_i8(&mut buf)?)?;
    let topics = match flexible {
        true => get_compact_len(&mut buf)?,
        false => usize::try_from(get_i32(&mut buf)?).ok(),
    };
    let mut partitions = BTreeSet::new();
    for _ in 0..topics.unwrap_or(0) {
        let topic = match flexible {
            true => get_compact_string(&mut buf)?,
            false => get_string(&mut buf)?,
        };
        let count = match flexible {
            true => get_compact_len(&mut buf)?.unwrap_or(0),
            false => usize::try_from(get_i32(&mut buf)?).ok()?,
        };
        for _ in 0..count {
            let partition = get_i32(&mut buf)?;
            partitions.insert(TxnPartition {
                topic: topic.clone(),
                partition,
            });
        }
        if flexible {
            get_tagged_fields(&mut buf)?;
        }
    }
    let last_update_ms = get_i64(&mut buf)?;
    let start_ms = get_i64(&mut buf)?;
    if flexible {
        // PreviousProducerId, NextProducerId, ClientTransactionVersion (KIP-890): not used.
        get_tagged_fields(&mut buf)?;
    }
    Some(TxnMetadata {
        transactional_id: transactional_id.to_string(),
        producer_id,
        producer_epoch,
        last_producer_epoch: NO_PRODUCER_EPOCH,
        timeout_ms,
        state,
        partitions,
        start_ms,
        last_update_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema_fields::put_uvarint;

    fn sample() -> TxnMetadata {
        let mut meta = TxnMetadata::new("orders-tx", 4001, 60_000, 1_700_000_000_000);
        meta.producer_epoch = 3;
        meta = meta.add_partitions(
            [("a", 1), ("a", 0), ("b", 2)].map(|(t, p)| TxnPartition {
                topic: t.into(),
                partition: p,
            }),
            1_700_000_000_500,
        );
        meta
    }

    #[test]
    fn key_and_value_round_trip() {
        let key = encode_key("orders-tx");
        assert_eq!(&key[..], b"\x00\x00\x00\x09orders-tx");
        assert_eq!(decode_key(&key).as_deref(), Some("orders-tx"));
        let meta = sample();
        let value = encode_value(&meta);
        assert_eq!(decode_value("orders-tx", &value), Some(meta));
    }

    #[test]
    fn value_v0_has_kafkas_layout() {
        let value = encode_value(&sample());
        let mut expected = BytesMut::new();
        expected.put_i16(0);
        expected.put_i64(4001);
        expected.put_i16(3);
        expected.put_i32(60_000);
        expected.put_i8(1); // Ongoing
        expected.put_i32(2); // topics a and b
        put_string(&mut expected, "a");
        expected.put_i32(2);
        expected.put_i32(0);
        expected.put_i32(1);
        put_string(&mut expected, "b");
        expected.put_i32(1);
        expected.put_i32(2);
        expected.put_i64(1_700_000_000_500);
        expected.put_i64(1_700_000_000_500);
        assert_eq!(value, expected.freeze());
    }

    #[test]
    fn a_flexible_v1_value_reads_with_its_tagged_fields_skipped() {
        let mut value = BytesMut::new();
        value.put_i16(1);
        value.put_i64(9);
        value.put_i16(0);
        value.put_i32(15_000);
        value.put_i8(4); // CompleteCommit
        put_uvarint(&mut value, 2); // one topic
        put_uvarint(&mut value, 3); // "t1": length + 1
        value.put_slice(b"t1");
        put_uvarint(&mut value, 2); // one partition
        value.put_i32(5);
        put_uvarint(&mut value, 0); // the topic's tagged fields
        value.put_i64(20);
        value.put_i64(10);
        put_uvarint(&mut value, 1); // PreviousProducerId
        put_uvarint(&mut value, 0);
        put_uvarint(&mut value, 8);
        value.put_i64(3);
        let meta = decode_value("x", &value).expect("v1 parses");
        assert_eq!(meta.state, TxnState::CompleteCommit);
        assert_eq!(meta.producer_id, 9);
        assert_eq!(
            meta.partitions.into_iter().collect::<Vec<_>>(),
            vec![TxnPartition {
                topic: "t1".into(),
                partition: 5
            }]
        );
        assert_eq!((meta.last_update_ms, meta.start_ms), (20, 10));
    }

    #[test]
    fn damaged_values_do_not_parse() {
        let value = encode_value(&sample());
        for cut in 0..value.len() {
            assert_eq!(decode_value("x", &value[..cut]), None, "cut at {cut}");
        }
        let mut unknown_state = value.to_vec();
        unknown_state[2 + 8 + 2 + 4] = 9;
        assert_eq!(decode_value("x", &unknown_state), None);
        assert_eq!(decode_value("x", b"\x00\x07"), None, "unknown version");
    }
}
