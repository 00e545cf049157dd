//! Replica assignment of new partitions over the live brokers, as Kafka's
//! `StripedReplicaPlacer` / `AdminUtils.assignReplicasToBrokers` does it: each partition's
//! first replica (its preferred leader) steps through the brokers from a random start, the
//! followers come after it at a shift that grows every full round, so that leaders and
//! followers both spread evenly. With `broker.rack` set, the broker list alternates racks
//! first, so consecutive replicas land on different racks.

use super::model::BrokerMeta;

/// The brokers in assignment order: by id, or alternating racks when any broker has one.
pub fn assignment_order<'a>(brokers: impl Iterator<Item = &'a BrokerMeta>) -> Vec<i32> {
    let brokers: Vec<&BrokerMeta> = brokers.collect();
    if brokers.iter().all(|b| b.rack.is_none()) {
        return brokers.iter().map(|b| b.id).collect();
    }
    let mut racks: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for b in &brokers {
        racks
            .entry(b.rack.as_deref().unwrap_or(""))
            .or_default()
            .push(b.id);
    }
    let mut order = Vec::with_capacity(brokers.len());
    for round in 0.. {
        let before = order.len();
        order.extend(racks.values().filter_map(|ids| ids.get(round)));
        if order.len() == before {
            break;
        }
    }
    order
}

/// Replicas for partitions `first_partition..first_partition + count`, `factor` each, over
/// `brokers` (assignment order). `seed` stands for Kafka's random start index and shift.
pub fn assign(
    brokers: &[i32],
    first_partition: i32,
    count: i32,
    factor: usize,
    seed: u64,
) -> Vec<Vec<i32>> {
    let n = brokers.len();
    if n == 0 || factor == 0 || factor > n {
        return Vec::new();
    }
    let start = (seed % n as u64) as usize;
    let mut shift = ((seed >> 32) % n as u64) as usize;
    let mut assignments = Vec::with_capacity(count.max(0) as usize);
    for partition in first_partition.max(0)..first_partition.max(0) + count.max(0) {
        let partition = partition as usize;
        if partition > 0 && partition.is_multiple_of(n) {
            shift += 1;
        }
        let first = (partition + start) % n;
        let mut replicas = vec![brokers[first]];
        for j in 0..factor - 1 {
            let index = if n == 1 {
                first
            } else {
                (first + 1 + (shift + j) % (n - 1)) % n
            };
            replicas.push(brokers[index]);
        }
        assignments.push(replicas);
    }
    assignments
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(id: i32, rack: Option<&str>) -> BrokerMeta {
        BrokerMeta {
            id,
            epoch: 1,
            incarnation: uuid::Uuid::nil(),
            endpoints: vec![crate::metadata::Endpoint::plaintext("127.0.0.1", 9092)],
            rack: rack.map(str::to_string),
            fenced: false,
            shutting_down: false,
        }
    }

    #[test]
    fn leaders_and_followers_spread_and_replicas_are_distinct() {
        let brokers = [1, 2, 3];
        for seed in 0..20u64 {
            let seed = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let assigned = assign(&brokers, 0, 6, 3, seed);
            assert_eq!(assigned.len(), 6);
            let mut leaders = [0; 4];
            for replicas in &assigned {
                let mut sorted = replicas.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, [1, 2, 3], "{replicas:?}");
                leaders[replicas[0] as usize] += 1;
            }
            assert_eq!(&leaders[1..], [2, 2, 2]);
        }
        assert!(assign(&brokers, 0, 1, 4, 0).is_empty());
        assert_eq!(assign(&[5], 0, 2, 1, 9), vec![vec![5], vec![5]]);
    }

    #[test]
    fn racks_alternate() {
        let brokers = [
            broker(1, Some("a")),
            broker(2, Some("a")),
            broker(3, Some("b")),
            broker(4, Some("b")),
        ];
        assert_eq!(assignment_order(brokers.iter()), [1, 3, 2, 4]);
        let plain = [broker(1, None), broker(2, None)];
        assert_eq!(assignment_order(plain.iter()), [1, 2]);
    }
}
