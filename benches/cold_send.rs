//! Cold fetch path: sending segment data that is not in memory to a consumer's socket, two ways,
//! side by side in one run (medians of alternating rounds):
//!
//! - `direct read + send` (what the broker does): O_DIRECT reads through the shard's io_uring
//!   into DMA buffers, then a send of those bytes (one copy, into the socket buffer).
//! - `sendfile off-reactor`: `sendfile(2)` from the segment file to the socket on glommio's
//!   blocking pool (the reactor must not block on a page-cache miss). Segments are written with
//!   O_DIRECT, so their pages are not in the page cache: the file's cache is dropped
//!   (`posix_fadvise(DONTNEED)`) before each round to measure that case honestly.
//!
//! `cargo bench --bench cold_send` (WEIR_COLD_MIB=N file size, default 256; 5 rounds each).

mod support;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;
use glommio::io::OpenOptions;
use glommio::LocalExecutorBuilder;
use support::bench_dir;

const CHUNK: usize = 1 << 20;
const ROUNDS: usize = 5;

/// A loopback peer that reads and discards everything, like a consumer that keeps up.
fn spawn_sink() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind sink");
    let addr = listener.local_addr().expect("sink addr");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 20];
                while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    addr
}

fn drop_cache(file: &std::fs::File) {
    // SAFETY: advisory call on an open fd.
    unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    v[v.len() / 2]
}

fn main() {
    let mib: usize = std::env::var("WEIR_COLD_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let size = mib * CHUNK;
    let dir = bench_dir("cold-send");
    std::fs::create_dir_all(&dir).expect("bench dir");
    let path = dir.join("00000000000000000000.log");
    let sink = spawn_sink();

    let handle = LocalExecutorBuilder::default()
        .io_memory(4 << 20)
        .spawn(move || async move {
            // The probe file first (glommio's iopoll probe must see a non-empty file), then
            // the "segment", written with O_DIRECT as the log writes it.
            weir::log::LogDir::open(&dir).await.expect("open bench dir");
            let file = OpenOptions::new()
                .create(true)
                .read(true)
                .write(true)
                .dma_open(&path)
                .await
                .expect("create segment");
            for chunk in 0..(size / CHUNK) {
                let mut buf = file.alloc_dma_buffer(CHUNK);
                buf.as_bytes_mut().fill((chunk % 251) as u8);
                file.write_at(buf, (chunk * CHUNK) as u64)
                    .await
                    .expect("write");
            }
            file.fdatasync().await.expect("sync");

            let std_file = std::fs::File::open(&path).expect("open for sendfile");
            let mut direct = Vec::new();
            let mut sendfile = Vec::new();
            for _ in 0..ROUNDS {
                // Direct reads into DMA buffers, then send.
                let mut stream = glommio::net::TcpStream::connect(sink)
                    .await
                    .expect("connect");
                let started = Instant::now();
                let mut pos = 0u64;
                while (pos as usize) < size {
                    let read = file.read_at(pos, CHUNK).await.expect("direct read");
                    stream.write_all(&read).await.expect("send");
                    pos += read.len() as u64;
                }
                direct.push(size as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64());

                // sendfile on the blocking pool, from a cold page cache.
                drop_cache(&std_file);
                let out = TcpStream::connect(sink).expect("connect");
                let src = std_file.try_clone().expect("dup file");
                let started = Instant::now();
                let sent = glommio::executor()
                    .spawn_blocking(move || {
                        let mut offset: libc::off_t = 0;
                        while (offset as usize) < size {
                            // SAFETY: valid fds; the kernel updates `offset`.
                            let n = unsafe {
                                libc::sendfile(out.as_raw_fd(), src.as_raw_fd(), &mut offset, CHUNK)
                            };
                            if n <= 0 {
                                break;
                            }
                        }
                        offset as usize
                    })
                    .await;
                assert_eq!(sent, size, "sendfile sent everything");
                sendfile.push(size as f64 / (1 << 20) as f64 / started.elapsed().as_secs_f64());
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
            file.close().await.expect("close");
            (median(direct), median(sendfile))
        })
        .expect("executor");
    let (direct, sendfile) = handle.join().expect("bench");
    println!("cold send of a {mib} MiB segment, median of {ROUNDS} rounds:");
    println!("  direct read + send       {direct:>8.0} MiB/s");
    println!("  sendfile off-reactor     {sendfile:>8.0} MiB/s (page cache dropped first)");
    println!("  ratio direct/sendfile    {:>8.2}", direct / sendfile);
}
