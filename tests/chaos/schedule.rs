//! The fault schedule: a pure function of a seed, the enabled fault kinds and the node ids, so
//! that a failing seed replays the same faults on the same nodes in the same order (the
//! cluster's own timing still varies from run to run).

use std::fmt;
use std::time::Duration;

/// A kind of fault the nemesis injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// kill -9, then a restart when the fault heals.
    Kill,
    /// SIGSTOP for longer than the broker session timeout, then SIGCONT: a leader that wakes
    /// up believing it still leads.
    Pause,
    /// One node cut off from all others (a majority/minority split).
    Isolate,
    /// Two nodes cannot reach each other but both reach the third (Jepsen's bridge: no clean
    /// majority/minority line).
    Bridge,
    /// Packets from one node to another are dropped; the reverse direction flows.
    OneWay,
    /// A share of the packets between two nodes are dropped at random.
    Lossy,
    /// The active controller, found when the fault starts, cut off from all others.
    IsolateController,
    /// One node's data disk filled up (a filler file takes all its free space); it heals when
    /// the filler is removed, and a node that stopped on the full disk is started again.
    DiskFull,
}

impl FaultKind {
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Kill,
        FaultKind::Pause,
        FaultKind::Isolate,
        FaultKind::Bridge,
        FaultKind::OneWay,
        FaultKind::Lossy,
        FaultKind::IsolateController,
        FaultKind::DiskFull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Pause => "pause",
            FaultKind::Isolate => "partition",
            FaultKind::Bridge => "bridge",
            FaultKind::OneWay => "one-way",
            FaultKind::Lossy => "loss",
            FaultKind::IsolateController => "controller",
            FaultKind::DiskFull => "disk-full",
        }
    }

    /// Parses a comma-separated list of names (`kill,pause,partition,...`).
    pub fn parse_list(list: &str) -> Result<Vec<FaultKind>, String> {
        list.split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
            .map(|name| {
                FaultKind::ALL
                    .into_iter()
                    .find(|kind| kind.name() == name)
                    .ok_or_else(|| {
                        let known: Vec<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
                        format!("unknown fault {name:?}; known: {}", known.join(","))
                    })
            })
            .collect()
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One fault of the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// The nodes it acts on: the one killed, paused or isolated; for `Bridge`, `OneWay` and
    /// `Lossy`, the two ends of the link (`OneWay` drops from the first to the second). Empty
    /// for `IsolateController`, whose target is found when it starts.
    pub nodes: Vec<i32>,
    /// How long the fault lasts before it heals.
    pub duration: Duration,
    /// For `Lossy`: the share of packets dropped.
    pub loss_percent: u32,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?} for {:?}", self.kind, self.nodes, self.duration)?;
        if self.kind == FaultKind::Lossy {
            write!(f, " ({}% loss)", self.loss_percent)?;
        }
        Ok(())
    }
}

/// SplitMix64: small, seedable, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..=high`.
    pub fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low + 1)
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.next_u64() as usize % items.len()]
    }

    /// Two different items.
    pub fn pick_two<T: Copy>(&mut self, items: &[T]) -> (T, T) {
        let first = self.next_u64() as usize % items.len();
        let second = (first + 1 + self.next_u64() as usize % (items.len() - 1)) % items.len();
        (items[first], items[second])
    }
}

/// The endless schedule of faults for a seed.
pub struct Schedule {
    rng: Rng,
    kinds: Vec<FaultKind>,
    /// Every node: faults hit controllers as well as brokers.
    nodes: Vec<i32>,
    /// A paused node must stay paused past this (the broker session timeout).
    session: Duration,
}

impl Schedule {
    /// `kinds` must not be empty; `nodes` needs at least three ids.
    pub fn new(seed: u64, kinds: &[FaultKind], nodes: &[i32], session: Duration) -> Schedule {
        assert!(!kinds.is_empty() && nodes.len() >= 3);
        Schedule {
            rng: Rng::new(seed),
            kinds: kinds.to_vec(),
            nodes: nodes.to_vec(),
            session,
        }
    }
}

impl Iterator for Schedule {
    type Item = Fault;

    fn next(&mut self) -> Option<Fault> {
        let kind = self.rng.pick(&self.kinds);
        let session_ms = self.session.as_millis() as u64;
        let duration_ms = match kind {
            // Past the session timeout, so the controller fences the paused broker.
            FaultKind::Pause => self.rng.between(session_ms + 1000, session_ms * 2 + 1000),
            _ => self.rng.between(3000, 8000),
        };
        let nodes = match kind {
            FaultKind::Kill | FaultKind::Pause | FaultKind::Isolate | FaultKind::DiskFull => {
                vec![self.rng.pick(&self.nodes)]
            }
            FaultKind::Bridge | FaultKind::OneWay | FaultKind::Lossy => {
                let (a, b) = self.rng.pick_two(&self.nodes);
                vec![a, b]
            }
            FaultKind::IsolateController => Vec::new(),
        };
        let loss_percent = match kind {
            FaultKind::Lossy => self.rng.between(10, 50) as u32,
            _ => 0,
        };
        Some(Fault {
            kind,
            nodes,
            duration: Duration::from_millis(duration_ms),
            loss_percent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: Duration = Duration::from_secs(3);

    #[test]
    fn a_seed_replays_the_same_schedule() {
        let kinds = FaultKind::ALL;
        let first: Vec<Fault> = Schedule::new(7, &kinds, &[1, 2, 3], SESSION)
            .take(50)
            .collect();
        let again: Vec<Fault> = Schedule::new(7, &kinds, &[1, 2, 3], SESSION)
            .take(50)
            .collect();
        let other: Vec<Fault> = Schedule::new(8, &kinds, &[1, 2, 3], SESSION)
            .take(50)
            .collect();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn faults_are_well_formed_and_every_enabled_kind_occurs() {
        let kinds = [
            FaultKind::Pause,
            FaultKind::Bridge,
            FaultKind::Lossy,
            FaultKind::DiskFull,
        ];
        let faults: Vec<Fault> = Schedule::new(1, &kinds, &[1, 2, 3, 101, 102], SESSION)
            .take(300)
            .collect();
        for kind in kinds {
            assert!(faults.iter().any(|f| f.kind == kind), "{kind} never chosen");
        }
        for fault in &faults {
            assert!(kinds.contains(&fault.kind));
            match fault.kind {
                FaultKind::Pause => {
                    assert_eq!(fault.nodes.len(), 1);
                    assert!(fault.duration > SESSION, "{fault}");
                }
                FaultKind::DiskFull => assert_eq!(fault.nodes.len(), 1),
                _ => {
                    assert_eq!(fault.nodes.len(), 2);
                    assert_ne!(fault.nodes[0], fault.nodes[1], "{fault}");
                }
            }
            if fault.kind == FaultKind::Lossy {
                assert!((10..=50).contains(&fault.loss_percent));
            }
        }
    }

    #[test]
    fn fault_lists_parse_by_name() {
        assert_eq!(
            FaultKind::parse_list("kill, pause,partition").unwrap(),
            vec![FaultKind::Kill, FaultKind::Pause, FaultKind::Isolate]
        );
        assert!(FaultKind::parse_list("kill,flood")
            .unwrap_err()
            .contains("flood"));
    }
}
