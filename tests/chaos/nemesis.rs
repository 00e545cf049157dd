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
        (FaultKind::DiskFull, [id]) => cluster
            .disk(cluster.index_of(*id))
            .expect("the fault suite places nodes on small disks")
            .fill(0),
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
/// one, removes every nftables rule, gives a full disk its space back. Returns the nodes that
/// had stopped by themselves during the fault and were started again (as an operator would),
/// each with the last lines it logged before it stopped.
pub fn heal(cluster: &mut Cluster, active: &ActiveFault) -> Vec<(i32, String)> {
    match (active.fault.kind, active.targets.as_slice()) {
        (FaultKind::Kill, [id]) => restart(cluster, *id),
        (FaultKind::Pause, [id]) => cluster.signal(cluster.index_of(*id), libc::SIGCONT),
        (FaultKind::DiskFull, [id]) => {
            if let Some(disk) = cluster.disk(cluster.index_of(*id)) {
                disk.unfill();
            }
        }
        _ => netns::heal(),
    }
    let ids: Vec<i32> = cluster.nodes.iter().map(|n| n.id).collect();
    let exited: Vec<i32> = ids
        .into_iter()
        .filter(|id| cluster.has_exited(cluster.index_of(*id)))
        .collect();
    let stopped: Vec<(i32, String)> = exited
        .into_iter()
        .map(|id| {
            let log = cluster.log(cluster.index_of(id));
            let lines: Vec<&str> = log.lines().collect();
            (id, lines[lines.len().saturating_sub(3)..].join("\n"))
        })
        .collect();
    for (id, _) in &stopped {
        restart(cluster, *id);
    }
    stopped
}

fn restart(cluster: &mut Cluster, id: i32) {
    let index = cluster.index_of(id);
    cluster.launch(index);
    cluster.wait_serving(index);
}
