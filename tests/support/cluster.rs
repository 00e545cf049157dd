//! A cluster of real `weir serve` processes for a test: each node a combined broker and
//! controller with its own client port, CONTROLLER port and data dir, all named in
//! `controller.quorum.voters`. Starting waits (bounded) until every node serves clients, that
//! is registered and unfenced; nodes are killed when the cluster is dropped, also on failure.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::broker::free_port;

const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Node {
    pub id: i32,
    pub port: u16,
    pub controller_port: u16,
    data_dir: tempfile::TempDir,
    log_path: PathBuf,
    child: Option<Child>,
    starts: usize,
}

pub struct Cluster {
    pub nodes: Vec<Node>,
    voters: String,
    overrides: Vec<String>,
}

impl Cluster {
    /// Starts `count` nodes with ids 1..=count and waits until all serve clients.
    pub fn start(count: usize, overrides: &[&str]) -> Cluster {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cluster-tests");
        std::fs::create_dir_all(&base).expect("create cluster test base dir");
        let nodes: Vec<Node> = (1..=count as i32)
            .map(|id| {
                let data_dir = tempfile::tempdir_in(&base).expect("create node data dir");
                let log_path = data_dir.path().join("node.log");
                Node {
                    id,
                    port: free_port(),
                    controller_port: free_port(),
                    data_dir,
                    log_path,
                    child: None,
                    starts: 0,
                }
            })
            .collect();
        let voters = nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.controller_port))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = Cluster {
            nodes,
            voters,
            overrides: overrides.iter().map(|o| o.to_string()).collect(),
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
            .filter(|n| n.child.is_some())
            .map(|n| format!("127.0.0.1:{}", n.port))
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
        node.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log_path)
            .expect("open node log");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .args(["--smp", "1"])
            .args(["--override", &format!("node.id={}", node.id)])
            .args([
                "--override",
                &format!(
                    "listeners=PLAINTEXT://127.0.0.1:{},CONTROLLER://127.0.0.1:{}",
                    node.port, node.controller_port
                ),
            ])
            .args(["--override", &format!("controller.quorum.voters={voters}")])
            .args([
                "--override",
                &format!("log.dirs={}", node.data_dir.path().display()),
            ])
            .args(["--override", "admin.listener="])
            .args(overrides.iter().flat_map(|o| ["--override", o.as_str()]))
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn weir serve");
        node.child = Some(child);
    }

    /// Waits until node `index` logged "listening" for its latest start and accepts.
    pub fn wait_serving(&mut self, index: usize) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let node = &mut self.nodes[index];
            let log = node.log();
            if log.matches(" listening ").count() >= node.starts
                && TcpStream::connect(("127.0.0.1", node.port)).is_ok()
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

    pub fn log(&self, index: usize) -> String {
        self.nodes[index].log()
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
    }
}
