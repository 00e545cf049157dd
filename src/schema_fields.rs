//! Kafka's message-schema field encodings, for the records of its internal topics
//! (`__consumer_offsets`, `__transaction_state`) that Weir writes in Kafka's own formats:
//! classic fields (big-endian integers, strings with an i16 length, bytes with an i32 length)
//! and, for flexible versions, compact fields (unsigned varint lengths plus one) and tagged
//! fields. Decoders take a cursor (`&mut &[u8]`) and answer `None` on short or bad input.

use bytes::{BufMut, Bytes, BytesMut};

pub fn put_string(buf: &mut BytesMut, s: &str) {
    buf.put_i16(s.len() as i16);
    buf.put_slice(s.as_bytes());
}

pub fn put_nullable_string(buf: &mut BytesMut, s: Option<&str>) {
    match s {
        Some(s) => put_string(buf, s),
        None => buf.put_i16(-1),
    }
}

pub fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_i32(b.len() as i32);
    buf.put_slice(b);
}

pub fn get_nullable_string(buf: &mut &[u8]) -> Option<Option<String>> {
    let (head, _) = buf.split_first_chunk::<2>()?;
    if i16::from_be_bytes(*head) < 0 {
        *buf = &buf[2..];
        return Some(None);
    }
    get_string(buf).map(Some)
}

pub fn get_bytes(buf: &mut &[u8]) -> Option<Bytes> {
    let len = usize::try_from(get_i32(buf)?).ok()?;
    let (b, rest) = buf.split_at_checked(len)?;
    *buf = rest;
    Some(Bytes::copy_from_slice(b))
}

pub fn get_i16(buf: &mut &[u8]) -> Option<i16> {
    let (head, rest) = buf.split_first_chunk::<2>()?;
    *buf = rest;
    Some(i16::from_be_bytes(*head))
}

pub fn get_i32(buf: &mut &[u8]) -> Option<i32> {
    let (head, rest) = buf.split_first_chunk::<4>()?;
    *buf = rest;
    Some(i32::from_be_bytes(*head))
}

pub fn get_i64(buf: &mut &[u8]) -> Option<i64> {
    let (head, rest) = buf.split_first_chunk::<8>()?;
    *buf = rest;
    Some(i64::from_be_bytes(*head))
}

pub fn get_string(buf: &mut &[u8]) -> Option<String> {
    let len = usize::try_from(get_i16(buf)?).ok()?;
    let (s, rest) = buf.split_at_checked(len)?;
    *buf = rest;
    String::from_utf8(s.to_vec()).ok()
}

pub fn get_i8(buf: &mut &[u8]) -> Option<i8> {
    let (head, rest) = buf.split_first()?;
    *buf = rest;
    Some(*head as i8)
}

/// An unsigned varint (flexible versions' lengths and tags).
pub fn get_uvarint(buf: &mut &[u8]) -> Option<u32> {
    let mut value = 0u32;
    for shift in (0..35).step_by(7) {
        let byte = get_i8(buf)? as u8;
        value |= u32::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

pub fn put_uvarint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// A compact length: the varint holds length + 1, and 0 stands for null (`None`).
pub fn get_compact_len(buf: &mut &[u8]) -> Option<Option<usize>> {
    Some(get_uvarint(buf)?.checked_sub(1).map(|len| len as usize))
}

pub fn get_compact_string(buf: &mut &[u8]) -> Option<String> {
    let len = get_compact_len(buf)??;
    let (s, rest) = buf.split_at_checked(len)?;
    *buf = rest;
    String::from_utf8(s.to_vec()).ok()
}

/// The tagged fields at the end of a flexible struct: tag → its bytes.
pub fn get_tagged_fields(buf: &mut &[u8]) -> Option<Vec<(u32, Bytes)>> {
    let count = get_uvarint(buf)?;
    let mut fields = Vec::new();
    for _ in 0..count {
        let tag = get_uvarint(buf)?;
        let size = get_uvarint(buf)? as usize;
        let (field, rest) = buf.split_at_checked(size)?;
        *buf = rest;
        fields.push((tag, Bytes::copy_from_slice(field)));
    }
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsigned_varints_round_trip_and_refuse_overlong_input() {
        for value in [0, 1, 127, 128, 300, 16_383, 16_384, u32::MAX] {
            let mut buf = BytesMut::new();
            put_uvarint(&mut buf, value);
            let mut cursor = &buf[..];
            assert_eq!(get_uvarint(&mut cursor), Some(value));
            assert!(cursor.is_empty());
        }
        assert_eq!(get_uvarint(&mut &[0x80u8; 6][..]), None);
        assert_eq!(get_uvarint(&mut &[0x80u8][..]), None, "cut short");
    }

    #[test]
    fn compact_lengths_count_null_as_zero() {
        assert_eq!(get_compact_len(&mut &[0u8][..]), Some(None));
        assert_eq!(get_compact_len(&mut &[4u8][..]), Some(Some(3)));
        assert_eq!(
            get_compact_string(&mut &b"\x03ab"[..]).as_deref(),
            Some("ab")
        );
        let mut tagged = &b"\x01\x00\x02xy\x07"[..];
        assert_eq!(
            get_tagged_fields(&mut tagged),
            Some(vec![(0, Bytes::from_static(b"xy"))])
        );
        assert_eq!(tagged, b"\x07");
    }
}
