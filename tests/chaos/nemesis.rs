//! The nemesis: starts and heals one fault at a time on the cluster's real processes and links
//! (signals, restarts, nftables rules in the private namespace).

use crate::probe;
use crate::schedule::{Fault, FaultKind};
use crate::support::cluster::Cluster;
use crate::support::netns;

/// A node's loopback address (the fault suite's layout: node `id` at 127.0.0.{10 + id}).
pub fn node_ip(id: i32) -> String {
    format!("127.0.0.{}", 10 + id)
}

/// A fault in force, with what healing it needs.
pub struct ActiveFault {
    pub fault: Fault,
    /// The nodes it acted on, resolved (the active controller for `IsolateController`).
    pub targets: Vec<i32>,
}

/// Starts `fault`. `brokers` are the client addresses to ask who leads the quorum.
pub fn start(cluster: &mut Cluster, fault: &Fault, brokers: &[(i32, String)]) -> ActiveFault {
    let all: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
    let targets = match fault.kind {
        FaultKind::IsolateController => brokers
            .iter()
            .filter_map(|(_, address)| probe::quorum_leader(address))
            .max_by_key(|(_, epoch)| *epoch)
            .map(|(leader, _)| vec![leader])
            .unwrap_or_default(),
        _ => fault.nodes.clone(),
    };
    match (fault.kind, targets.as_slice()) {
        (FaultKind::Kill, [id]) => cluster.kill(cluster.index_of(*id)),
        (FaultKind::Pause, [id]) => cluster.signal(cluster.index_of(*id), libc::SIGSTOP),
        (FaultKind::Isolate | FaultKind::IsolateController, [id]) => {
            for other in all.iter().filter(|other| *other != id) {
                netns::cut(&node_ip(*id), &node_ip(*other));
            }
        }
        (FaultKind::Bridge, [a, b]) => netns::cut(&node_ip(*a), &node_ip(*b)),
        (FaultKind::OneWay, [from, to]) => netns::drop_one_way(&node_ip(*from), &node_ip(*to)),
        (FaultKind::Lossy, [a, b]) => netns::lose(&node_ip(*a), &node_ip(*b), fault.loss_percent),
        // No active controller known (none elected right now): nothing to isolate.
        (FaultKind::IsolateController, []) => {}
        (kind, targets) => panic!("{kind} cannot act on {targets:?}"),
    }
    ActiveFault {
        fault: fault.clone(),
        targets,
    }
}

/// Ends `active`: restarts a killed node (waiting, bounded, until it serves), resumes a paused
/// one, removes every nftables rule.
pub fn heal(cluster: &mut Cluster, active: &ActiveFault) {
    match (active.fault.kind, active.targets.as_slice()) {
        (FaultKind::Kill, [id]) => {
            let index = cluster.index_of(*id);
            cluster.launch(index);
            cluster.wait_serving(index);
        }
        (FaultKind::Pause, [id]) => cluster.signal(cluster.index_of(*id), libc::SIGCONT),
        _ => netns::heal(),
    }
}
