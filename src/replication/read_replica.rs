//! Fetch from the closest replica (KIP-392): with `replica.selector.class` set to Kafka's
//! `RackAwareReplicaSelector`, a leader tells a consumer in another rack to fetch from an
//! in-sync follower in the consumer's own rack (`client.rack`, sent in Fetch v11+) by answering
//! with `preferred_read_replica` and no records; the follower then serves the consumer below its
//! own high watermark. Pure decision here; the fetch path asks it.

/// Kafka's `replica.selector.class` values Weir knows.
pub const RACK_AWARE_SELECTOR: &str = "org.apache.kafka.common.replica.RackAwareReplicaSelector";
pub const LEADER_SELECTOR: &str = "org.apache.kafka.common.replica.LeaderSelector";

/// A follower the leader could send a consumer to, as the leader knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadCandidate {
    pub id: i32,
    pub rack: Option<String>,
    /// The follower's log end, from its last fetch.
    pub log_end: i64,
}

/// The follower a consumer in `client_rack` fetching from `fetch_offset` should read from
/// instead of the leader, if any (Kafka's `RackAwareReplicaSelector` over the replicas that
/// have the offset, KAFKA-14372's ISR rule applied by the caller): `None` when the client names
/// no rack, when the leader is in that rack, or when no in-sync follower there has the offset.
/// Among several, the one furthest ahead (then the lowest id, so the answer is stable). A
/// follower's log start is not known here (retention may have passed the offset on its copy):
/// it then answers OFFSET_OUT_OF_RANGE and the consumer asks the leader again, as Kafka's
/// consumers do.
pub fn preferred_read_replica(
    client_rack: &str,
    leader_rack: Option<&str>,
    in_sync_followers: &[ReadCandidate],
    fetch_offset: i64,
) -> Option<i32> {
    if client_rack.is_empty() || leader_rack == Some(client_rack) {
        return None;
    }
    in_sync_followers
        .iter()
        .filter(|f| f.rack.as_deref() == Some(client_rack))
        .filter(|f| f.log_end >= fetch_offset)
        .max_by_key(|f| (f.log_end, std::cmp::Reverse(f.id)))
        .map(|f| f.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn follower(id: i32, rack: &str, log_end: i64) -> ReadCandidate {
        ReadCandidate {
            id,
            rack: Some(rack.to_string()),
            log_end,
        }
    }

    #[test]
    fn a_consumer_is_sent_to_an_in_sync_follower_of_its_rack_that_has_its_offset() {
        let followers = [follower(2, "b", 100), follower(3, "c", 100)];
        assert_eq!(
            preferred_read_replica("c", Some("a"), &followers, 50),
            Some(3)
        );
        // The leader's own rack, no rack, or a rack without a replica: the leader serves.
        assert_eq!(preferred_read_replica("a", Some("a"), &followers, 50), None);
        assert_eq!(preferred_read_replica("", Some("a"), &followers, 50), None);
        assert_eq!(preferred_read_replica("d", Some("a"), &followers, 50), None);
        // A follower that does not have the offset yet.
        assert_eq!(
            preferred_read_replica("c", Some("a"), &followers, 101),
            None
        );
        // Two in the rack: the one furthest ahead, then the lowest id.
        let two = [
            follower(4, "c", 90),
            follower(3, "c", 100),
            follower(5, "c", 100),
        ];
        assert_eq!(preferred_read_replica("c", None, &two, 50), Some(3));
    }
}
