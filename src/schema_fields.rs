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
