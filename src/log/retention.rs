//! Which old segments retention removes: Kafka's `retention.ms` (by the segment's largest
//! timestamp), `retention.bytes` (total partition size) and segments wholly below the log start
//! offset (after DeleteRecords). Only whole segments, oldest first, never the active one.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentSummary {
    pub size_bytes: u64,
    pub max_timestamp_ms: i64,
    pub next_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetentionLimits {
    pub now_ms: i64,
    pub retention_ms: Option<i64>,
    pub retention_bytes: Option<u64>,
    pub log_start_offset: i64,
}

/// How many of the oldest segments to delete. `segments` is in offset order and its last entry
/// is the active segment, which is never counted.
pub(crate) fn segments_to_delete(segments: &[SegmentSummary], limits: RetentionLimits) -> usize {
    let Some((_active, sealed)) = segments.split_last() else {
        return 0;
    };
    let mut total_bytes: u64 = segments.iter().map(|s| s.size_bytes).sum();
    let mut count = 0;
    for segment in sealed {
        let below_start = segment.next_offset <= limits.log_start_offset;
        let expired = limits
            .retention_ms
            .is_some_and(|ms| limits.now_ms - segment.max_timestamp_ms > ms);
        let oversize = limits
            .retention_bytes
            .is_some_and(|max| total_bytes - segment.size_bytes >= max);
        if !(below_start || expired || oversize) {
            break;
        }
        total_bytes -= segment.size_bytes;
        count += 1;
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(size_bytes: u64, max_timestamp_ms: i64, next_offset: i64) -> SegmentSummary {
        SegmentSummary {
            size_bytes,
            max_timestamp_ms,
            next_offset,
        }
    }

    fn limits(now_ms: i64) -> RetentionLimits {
        RetentionLimits {
            now_ms,
            retention_ms: None,
            retention_bytes: None,
            log_start_offset: 0,
        }
    }

    #[test]
    fn time_retention_deletes_an_old_prefix_but_never_the_active_segment() {
        let segments = [seg(10, 100, 10), seg(10, 200, 20), seg(10, 150, 30)];
        let mut l = limits(1_000);
        l.retention_ms = Some(850);
        assert_eq!(
            segments_to_delete(&segments, l),
            1,
            "only the first is > 850 ms old"
        );
        l.retention_ms = Some(10);
        assert_eq!(segments_to_delete(&segments, l), 2, "the active one stays");
        l.retention_ms = None;
        assert_eq!(segments_to_delete(&segments, l), 0);
    }

    #[test]
    fn retention_stops_at_the_first_segment_to_keep() {
        let segments = [seg(10, 900, 10), seg(10, 100, 20), seg(10, 100, 30)];
        let mut l = limits(1_000);
        l.retention_ms = Some(500);
        assert_eq!(
            segments_to_delete(&segments, l),
            0,
            "Kafka deletes a prefix only"
        );
    }

    #[test]
    fn size_retention_keeps_total_under_the_limit() {
        let segments = [
            seg(100, 0, 1),
            seg(100, 0, 2),
            seg(100, 0, 3),
            seg(40, 0, 4),
        ];
        let mut l = limits(0);
        // Kafka's rule: a segment goes only if what remains is still >= retention.bytes, so a
        // partition may exceed the limit by less than one segment.
        l.retention_bytes = Some(250);
        assert_eq!(segments_to_delete(&segments, l), 0, "340 - 100 < 250");
        l.retention_bytes = Some(240);
        assert_eq!(segments_to_delete(&segments, l), 1, "340 -> 240 bytes");
        l.retention_bytes = Some(140);
        assert_eq!(segments_to_delete(&segments, l), 2);
        l.retention_bytes = Some(1);
        assert_eq!(segments_to_delete(&segments, l), 3);
    }

    #[test]
    fn segments_below_the_log_start_offset_go() {
        let segments = [seg(10, 0, 10), seg(10, 0, 20), seg(10, 0, 30)];
        let mut l = limits(0);
        l.log_start_offset = 15;
        assert_eq!(segments_to_delete(&segments, l), 1);
        l.log_start_offset = 20;
        assert_eq!(segments_to_delete(&segments, l), 2);
    }
}
