//! A real `weir serve` child process for a test: a free loopback port, a temporary data dir, a
//! wait until it accepts connections, and a kill when the test ends (also when it fails).

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const START_TIMEOUT: Duration = Duration::from_secs(30);
/// The line a broker logs once per start when shard 0 has bound every client listener.
pub const LISTENERS_BOUND: &str = " all listeners bound ";

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    /// The admin port (`/metrics`).
    pub admin_port: u16,
    data_dir: tempfile::TempDir,
    extra_args: Vec<String>,
    log_path: PathBuf,
    starts: usize,
    /// Where the latest run's lines begin in the log.
    last_run_log_start: usize,
}

impl Broker {
    /// Starts a broker with default settings but for the port and data dir.
    pub fn start() -> Broker {
        Broker::start_with(&[])
    }

    /// Starts a broker with extra `--override key=value` settings.
    pub fn start_with(overrides: &[&str]) -> Broker {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("broker-tests");
        std::fs::create_dir_all(&base).expect("create broker test base dir");
        let data_dir = tempfile::tempdir_in(base).expect("create broker data dir");
        let mut extra_args = Vec::new();
        for o in overrides {
            extra_args.push("--override".to_string());
            extra_args.push(o.to_string());
        }
        let log_path = data_dir.path().join("broker.log");
        let mut broker = Broker {
            child: None,
            port: free_port(),
            admin_port: free_port(),
            data_dir,
            extra_args,
            log_path,
            starts: 0,
            last_run_log_start: 0,
        };
        broker.launch();
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The broker process's id (for /proc readings).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().join("data")
    }

    /// Everything the broker logged so far (all runs).
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log_path) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    /// SIGTERM, wait for a clean exit, start again on the same port and data.
    pub fn restart(&mut self) {
        self.stop(libc::SIGTERM);
        self.launch();
    }

    /// SIGKILL (a crash: nothing is flushed or closed), start again on the same port and data.
    pub fn crash_and_restart(&mut self) {
        self.stop(libc::SIGKILL);
        self.launch();
    }

    /// SIGKILL (a crash): the process is gone when this returns; `relaunch` starts it again.
    pub fn kill(&mut self) {
        self.stop(libc::SIGKILL);
    }

    /// SIGTERM; asserts a clean exit (status 0) and returns how long it took.
    pub fn terminate(&mut self) -> Duration {
        let started = Instant::now();
        self.stop(libc::SIGTERM);
        started.elapsed()
    }

    /// Replaces the extra `weir serve` arguments (`--smp N`, `--override k=v`) of the next
    /// start.
    #[allow(dead_code)] // not every test binary that includes `support` restarts differently
    pub fn set_args(&mut self, args: &[&str]) {
        self.extra_args = args.iter().map(|a| a.to_string()).collect();
    }

    /// Starts the broker again on the same port and data after `kill` or `terminate`.
    pub fn relaunch(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        self.launch();
    }

    /// The log of the latest start only.
    pub fn last_run_log(&self) -> String {
        let log = self.log();
        log.get(self.last_run_log_start..).unwrap_or("").to_string()
    }

    /// True while the process runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    fn stop(&mut self, signal: i32) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: sending a signal to our own child process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                if signal == libc::SIGTERM {
                    assert!(
                        status.success(),
                        "broker exited with {status} after SIGTERM:\n{}",
                        self.log()
                    );
                }
                return;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("broker did not stop within 30 s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn launch(&mut self) {
        self.starts += 1;
        self.last_run_log_start = self.log().len();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("open broker log");
        let child = Command::new(env!("CARGO_BIN_EXE_weir"))
            .arg("serve")
            .arg("--override")
            .arg(format!("listeners=PLAINTEXT://127.0.0.1:{}", self.port))
            .arg("--override")
            .arg(format!("log.dirs={}", self.data_path().display()))
            .arg("--override")
            .arg(format!("admin.listener=127.0.0.1:{}", self.admin_port))
            // `{port}` in an override stands for the broker's client port (a `listeners`
            // override of a test keeps it).
            .args(
                self.extra_args
                    .iter()
                    .map(|a| a.replace("{port}", &self.port.to_string())),
            )
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn weir serve");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        // Ready = this run logged that every listener is bound (one line per start: the
        // "listening" lines come one per listener, so counting them let a restart with two
        // listeners pass before the second was bound) and the port accepts. (A connect alone
        // is not enough after a kill -9: the dead broker's listener lingers for a moment and
        // still completes handshakes.)
        while !self.last_run_log().contains(LISTENERS_BOUND)
            || TcpStream::connect(("127.0.0.1", self.port)).is_err()
        {
            if !self.is_running() {
                panic!("weir serve exited during start:\n{}", self.log());
            }
            if Instant::now() > deadline {
                panic!(
                    "weir serve did not listen within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- broker log ({} starts) ---\n{}",
                self.starts,
                self.log()
            );
        }
    }
}

/// A loopback port nobody listens on right now, and never handed out before in this test
/// process: the kernel may offer a just-released ephemeral port again, and two nodes given the
/// same port would share (or fight over) it.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
        let port = listener.local_addr().expect("local addr").port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}
