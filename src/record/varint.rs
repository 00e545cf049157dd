//! Kafka's zig-zag varints (protobuf style), as used inside v2 records.

/// Reads a zig-zag varint of at most `max_bytes` bytes; returns the value and bytes consumed.
fn read_zigzag(buf: &[u8], max_bytes: usize) -> Option<(i64, usize)> {
    let mut raw: u64 = 0;
    for (i, byte) in buf.iter().take(max_bytes).enumerate() {
        raw |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let value = ((raw >> 1) as i64) ^ -((raw & 1) as i64);
            return Some((value, i + 1));
        }
    }
    None
}

/// A 32-bit zig-zag varint (at most 5 bytes).
pub(crate) fn read_varint(buf: &[u8]) -> Option<(i32, usize)> {
    let (value, used) = read_zigzag(buf, 5)?;
    i32::try_from(value).ok().map(|v| (v, used))
}

/// A 64-bit zig-zag varint (at most 10 bytes).
pub(crate) fn read_varlong(buf: &[u8]) -> Option<(i64, usize)> {
    read_zigzag(buf, 10)
}

/// Appends `value` as a zig-zag varint (used to build records in tests and tools).
pub fn write_varlong(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    while raw >= 0x80 {
        out.push((raw as u8) | 0x80);
        raw >>= 7;
    }
    out.push(raw as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_round_trips_edge_values() {
        for value in [
            0i64,
            -1,
            1,
            63,
            -64,
            64,
            300,
            -300,
            i32::MAX as i64,
            i32::MIN as i64,
        ] {
            let mut buf = Vec::new();
            write_varlong(&mut buf, value);
            assert_eq!(read_varlong(&buf), Some((value, buf.len())));
            assert_eq!(read_varint(&buf), Some((value as i32, buf.len())));
        }
        let mut buf = Vec::new();
        write_varlong(&mut buf, i64::MIN);
        assert_eq!(read_varlong(&buf), Some((i64::MIN, 10)));
        assert_eq!(read_varint(&buf), None, "too wide for a 32-bit varint");
    }

    #[test]
    fn unterminated_varint_is_rejected() {
        assert_eq!(read_varint(&[0x80, 0x80]), None);
        assert_eq!(read_varlong(&[0xff; 11]), None);
    }
}
