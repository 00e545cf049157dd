//! A cluster of real `weir serve` processes for a test: either combined nodes (broker and
//! controller, each with a client port, a CONTROLLER port and a data dir, all named in
//! `controller.quorum.voters`), or separate controller-only and broker-only nodes (Kafka's
//! `process.roles`). Starting waits (bounded) until every broker serves clients, that is
//! registered and unfenced, and every controller listens; nodes are killed when the cluster is
//! dropped, also on failure.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::broker::free_port;
use super::disk::SmallDisk;

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A node's `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Combined,
    Controller,
    /// Broker-only; `bootstrap`: finds the controllers through
    /// `controller.quorum.bootstrap.servers` instead of `controller.quorum.voters`.
    Broker {
        bootstrap: bool,
    },
}

pub struct Node {
    pub id: i32,
    pub role: Role,
    /// The loopback address all its listeners bind (127.0.0.1 unless the cluster was started
    /// with [`Cluster::start_at_own_addresses`]).
    pub host: String,
    pub port: u16,
    pub controller_port: u16,
    /// `admin.listener` (`/metrics`).
    pub admin_port: u16,
    /// A free port a test may give a listener of its own (`{node.spare_port}` in overrides).
    pub spare_port: u16,
    /// Declared before `data_dir`: unmounted before the directory is removed.
    disk: Option<SmallDisk>,
    data_dir: tempfile::TempDir,
    log_path: PathBuf,
    child: Option<Child>,
    /// Where the latest start's lines begin in the log (the log of a reformatted node starts
    /// again from nothing).
    run_log_start: usize,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    voters: String,
    overrides: Vec<String>,
}

/// Where a cluster's nodes live on this machine.
#[derive(Debug, Default, Clone, Copy)]
pub struct Placement {
    /// Node `id` listens on, and connects from, its own loopback address 127.0.0.{10 + id}
    /// (the fault suite's layout), instead of 127.0.0.1.
    pub own_addresses: bool,
    /// Each node's data dir is its own small disk of this many MiB (`support::disk`).
    pub disk_mib: Option<u64>,
}

impl Cluster {
    /// Starts `count` nodes with ids 1..=count and waits until all serve clients.
    pub fn start(count: usize, overrides: &[String]) -> Cluster {
        Self::start_placed(Self::combined_roles(count), overrides, Placement::default())
    }

    /// Like [`Cluster::start`], with node `id` listening on its own loopback address
    /// 127.0.0.{10 + id}, as the fault suite lays nodes out.
    pub fn start_at_own_addresses(count: usize, overrides: &[String]) -> Cluster {
        let placement = Placement {
            own_addresses: true,
            ..Placement::default()
        };
        Self::start_placed(Self::combined_roles(count), overrides, placement)
    }

    /// Controller-only nodes 101, 102, ... and broker-only nodes 1, 2, ...; the first broker
    /// finds the controllers through `controller.quorum.bootstrap.servers`.
    pub fn start_separate(controllers: usize, brokers: usize, overrides: &[String]) -> Cluster {
        let roles = Self::separate_roles(controllers, brokers);
        Self::start_placed(roles, overrides, Placement::default())
    }

    /// Nodes 1..=count, each broker and controller.
    pub fn combined_roles(count: usize) -> Vec<(i32, Role)> {
        (1..=count as i32).map(|id| (id, Role::Combined)).collect()
    }

    /// Controller-only nodes 101, 102, ... and broker-only nodes 1, 2, ...
    pub fn separate_roles(controllers: usize, brokers: usize) -> Vec<(i32, Role)> {
        (1..=controllers as i32)
            .map(|i| (100 + i, Role::Controller))
            .chain((1..=brokers as i32).map(|id| (id, Role::Broker { bootstrap: id == 1 })))
            .collect()
    }

    /// Starts nodes of these roles, placed as `placement` says, and waits until all serve.
    pub fn start_placed(
        roles: Vec<(i32, Role)>,
        overrides: &[String],
        placement: Placement,
    ) -> Cluster {
        let count = roles.len();
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cluster-tests");
        std::fs::create_dir_all(&base).expect("create cluster test base dir");
        let nodes: Vec<Node> = roles
            .into_iter()
            .map(|(id, role)| {
                let data_dir = tempfile::tempdir_in(&base).expect("create node data dir");
                let disk = placement
                    .disk_mib
                    .map(|mib| SmallDisk::mount_at(data_dir.path(), mib));
                // Beside a small disk, not on it: a full disk must not silence the node's log.
                let log_path = match disk {
                    Some(_) => data_dir.path().with_extension("log"),
                    None => data_dir.path().join("node.log"),
                };
                let host = match placement.own_addresses {
                    true => format!("127.0.0.{}", 10 + id),
                    false => "127.0.0.1".to_string(),
                };
                Node {
                    id,
                    role,
                    host,
                    port: free_port(),
                    controller_port: free_port(),
                    admin_port: free_port(),
                    spare_port: free_port(),
                    disk,
                    data_dir,
                    log_path,
                    child: None,
                    run_log_start: 0,
                }
            })
            .collect();
        let voters = nodes
            .iter()
            .filter(|n| matches!(n.role, Role::Combined | Role::Controller))
            .map(|n| format!("{}@{}:{}", n.id, n.host, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            nodes,
            voters,
            overrides: overrides.to_vec(),
        };
        for index in 0..count {
            cluster.launch(index);
        }
        for index in 0..count {
            cluster.wait_serving(index);
        }
        cluster
    }

    pub fn bootstrap(&self) -> String {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some() && n.role != Role::Controller)
            .map(|n| format!("{}:{}", n.host, n.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node with id `id`.
    pub fn index_of(&self, id: i32) -> usize {
        self.nodes
            .iter()
            .position(|n| n.id == id)
            .expect("a node of this id")
    }

    /// Starts node `index` (again) without waiting.
    pub fn launch(&mut self, index: usize) {
        let voters = self.voters.clone();
        let overrides = self.overrides.clone();
        let node = &mut self.nodes[index];
        node.run_log_start = node.log().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .expect("open node log");
        let (roles, listeners, quorum) = match node.role {
            Role::Combined => (
                "broker,controller",
                format!(
                    "PLAINTEXT://{host}:{},CONTROLLER://{host}:{}",
                    node.port,
                    node.controller_port,
                    host = node.host
                ),
                format!("controller.quorum.voters={voters}"),
            ),
            Role::Controller => (
                "controller",
                format!("CONTROLLER://{}:{}", node.host, node.controller_port),
                format!("controller.quorum.voters={voters}"),
            ),
            Role::Broker { bootstrap } => (
                "broker",
                format!("PLAINTEXT://{}:{}", node.host, node.port),
                match bootstrap {
                    true => format!(
                        "controller.quorum.bootstrap.servers={}",
                        voters
                            .split(',')
                            .filter_map(|v| v.split_once('@').map(|(_, a)| a))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                    false => format!("controller.quorum.voters={voters}"),
                },
            ),
        };
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .args(["--smp", "1"])
            .args(["--override", &format!("node.id={}", node.id)])
            .args(["--override", &format!("process.roles={roles}")])
            .args(["--override", &format!("listeners={listeners}")])
            .args(["--override", &quorum])
            .args([
                "--override",
                &format!("log.dirs={}", node.data_dir.path().display()),
            ])
            .args([
                "--override",
                &format!("admin.listener={}:{}", node.host, node.admin_port),
            ])
            // `{node.id}`, `{node.host}`, `{node.port}`, `{node.controller_port}` and
            // `{node.spare_port}` in an override stand for the node's own (per-node values
            // such as `broker.rack` or a listener of the test's).
            .args(overrides.iter().flat_map(|o| {
                let value = o
                    .replace("{node.id}", &node.id.to_string())
                    .replace("{node.host}", &node.host)
                    .replace("{node.port}", &node.port.to_string())
                    .replace("{node.controller_port}", &node.controller_port.to_string())
                    .replace("{node.spare_port}", &node.spare_port.to_string());
                ["--override".to_string(), value]
            }))
            .env(
                "RUST_LOG",
                std::env::var("WEIR_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn weir serve");
        node.child = Some(child);
    }

    /// Waits until node `index` logged that its listeners are bound for its latest start and
    /// accepts.
    pub fn wait_serving(&mut self, index: usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let node = &mut self.nodes[index];
            let log = node.log();
            let (line, port) = match node.role {
                Role::Controller => (" controller listener ", node.controller_port),
                _ => (super::broker::LISTENERS_BOUND, node.port),
            };
            if log
                .get(node.run_log_start..)
                .is_some_and(|run| run.contains(line))
                && TcpStream::connect((node.host.as_str(), port)).is_ok()
            {
                return;
            }
            if let Some(status) = node
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("node {} exited during start ({status}):\n{log}", node.id);
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not serve within {START_TIMEOUT:?}:\n{log}",
                node.id
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// kill -9 of node `index`.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Whether node `index`'s process has exited by itself (it was not killed by the test).
    pub fn has_exited(&mut self, index: usize) -> bool {
        let node = &mut self.nodes[index];
        let exited = node
            .child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_some());
        if exited {
            node.child = None;
        }
        exited
    }

    /// Node `index`'s own small disk, when the cluster was placed on small disks.
    pub fn disk(&self, index: usize) -> Option<&SmallDisk> {
        self.nodes[index].disk.as_ref()
    }

    /// Sends `signal` (SIGSTOP, SIGCONT) to node `index`.
    pub fn signal(&self, index: usize, signal: i32) {
        if let Some(child) = &self.nodes[index].child {
            // SAFETY: sending a signal to our own child process.
            unsafe { libc::kill(child.id() as i32, signal) };
        }
    }

    /// SIGTERM to node `index`; waits (bounded) for it to exit and returns how long it took.
    pub fn terminate(&mut self, index: usize, timeout: Duration) -> Duration {
        let started = Instant::now();
        let Some(mut child) = self.nodes[index].child.take() else {
            return Duration::ZERO;
        };
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        while child.try_wait().ok().flatten().is_none() {
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                panic!("node did not exit within {timeout:?} of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        started.elapsed()
    }

    /// The same nodes as a new cluster: each stopped, its data directory emptied and formatted
    /// with `weir storage format --add-scram` for each of `add_scram`, then all started again.
    pub fn reformat(&mut self, add_scram: &[&str]) {
        for index in 0..self.nodes.len() {
            self.terminate(index, Duration::from_secs(30));
        }
        for index in 0..self.nodes.len() {
            let data = self.data_path(index).to_path_buf();
            std::fs::remove_dir_all(&data).expect("remove the data dir");
            let log_dirs = format!("log.dirs={}", data.display());
            let mut args = vec!["storage", "format", "--override", &log_dirs];
            for credential in add_scram {
                args.extend_from_slice(&["--add-scram", credential]);
            }
            let (ok, out) = super::weir(&args);
            assert!(ok, "weir storage format: {out}");
        }
        for index in 0..self.nodes.len() {
            self.launch(index);
        }
        for index in 0..self.nodes.len() {
            self.wait_serving(index);
        }
    }

    pub fn log(&self, index: usize) -> String {
        self.nodes[index].log()
    }

    /// Asserts that node `index`'s log has a line holding every one of `parts`.
    #[allow(dead_code)] // not every test binary that includes `support` reads logs so
    pub fn assert_logged(&self, index: usize, parts: &[&str]) {
        let log = self.log(index);
        assert!(
            log.lines().any(|l| parts.iter().all(|p| l.contains(p))),
            "node {index} logged no line with {parts:?}:\n{log}"
        );
    }

    pub fn data_path(&self, index: usize) -> &Path {
        self.nodes[index].data_dir.path()
    }
}

impl Node {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::thread::panicking() {
            for node in &self.nodes {
                eprintln!("--- node {} log ---\n{}", node.id, node.log());
            }
        }
        for node in &self.nodes {
            if !node.log_path.starts_with(node.data_dir.path()) {
                let _ = std::fs::remove_file(&node.log_path);
            }
        }
    }
}

/// The batches a replica stored below `end` in `topic`-`partition`, as their bytes, read from
/// its segment files under `data_dir` (to compare replicas byte for byte).
pub fn stored_batches(data_dir: &Path, topic: &str, partition: i32, end: i64) -> Vec<u8> {
    let mut out = Vec::new();
    for batch in stored_batch_list(data_dir, topic, partition, end) {
        out.extend_from_slice(batch.as_bytes());
    }
    out
}

/// The batches a replica stored below `end` in `topic`-`partition`, read from its segment
/// files under `data_dir`, in offset order.
pub fn stored_batch_list(
    data_dir: &Path,
    topic: &str,
    partition: i32,
    end: i64,
) -> Vec<weir::record::RecordBatch> {
    let dir = data_dir.join(format!("{topic}-{partition}"));
    let mut segments: Vec<_> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .collect()
        })
        .unwrap_or_default();
    segments.sort();
    let mut out = Vec::new();
    for path in segments {
        let bytes = bytes::Bytes::from(std::fs::read(&path).expect("read segment"));
        for batch in weir::record::split_batches(bytes) {
            // Preallocated space past the data reads as an invalid batch: the data ends there.
            let Ok(batch) = batch else { break };
            if batch.batch_length() <= 0 || batch.base_offset() >= end {
                break;
            }
            out.push(batch);
        }
    }
    out
}
