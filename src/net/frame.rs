//! Kafka framing on the read side: a 4-byte big-endian size, then that many bytes. Frames are
//! cut from one connection buffer as `Bytes`, so a produce request's records are never copied
//! again on their way to the log.
//!
//! Bytes already queued on the socket are received straight into the buffer's uninitialized
//! capacity with a non-blocking `recv` (as `send.rs` sends). Only when the socket is empty does
//! the reader wait in glommio's read, into a small zeroed region: a safe `&mut [u8]` must be
//! initialized, and zeroing every 1 MiB chunk before each receive was 13-17% of the broker's
//! CPU on produce (perf/RESULTS.md, "Produce: where the broker's time goes").

use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use super::limits::{RequestMemory, RequestPermit};

/// How much more the buffer asks the socket for at a time: memory follows the bytes that
/// actually arrive, not the size a frame claims.
const READ_CHUNK: usize = 64 * 1024;
const MAX_READ_CHUNK: usize = 1024 * 1024;
/// The zeroed region a wait for more bytes reads into (glommio's read, with the connection's
/// idle timeout). Whatever else is queued by then is received without zeroing.
const WAIT_CHUNK: usize = READ_CHUNK;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    #[error("frame of {size} bytes exceeds socket.request.max.bytes ({max})")]
    TooLarge { size: usize, max: usize },
    #[error("connection closed in the middle of a frame ({have} of {want} bytes)")]
    Truncated { have: usize, want: usize },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

pub struct FrameReader {
    buf: BytesMut,
    max_frame: usize,
    /// The request memory of the frame being read, taken as soon as its size is known.
    permit: Option<RequestPermit>,
    /// The last receive got less than it asked for: the socket is probably empty, so the next
    /// read waits (glommio) instead of trying a receive that would only say EAGAIN.
    socket_drained: bool,
}

/// One request's bytes and its share of the shard's request memory (held until answered).
pub struct Frame {
    pub bytes: Bytes,
    pub permit: Option<RequestPermit>,
}

impl FrameReader {
    pub fn new(max_frame: usize) -> Self {
        FrameReader {
            buf: BytesMut::with_capacity(READ_CHUNK),
            max_frame,
            permit: None,
            socket_drained: true,
        }
    }

    /// The next frame (without the size), or `None` at a clean end of stream. Once the size is
    /// known, the frame's memory is taken from `memory` before its body is read: a shard at
    /// `queued.max.request.bytes` waits here, reading nothing.
    pub async fn next_frame(
        &mut self,
        stream: &mut TcpStream,
        memory: &RequestMemory,
    ) -> Result<Option<Frame>, FrameError> {
        loop {
            if self.permit.is_none() {
                if let Some(size) = self.frame_size()? {
                    self.permit = memory.acquire(size).await;
                }
            }
            if let Some(bytes) = self.split_frame()? {
                return Ok(Some(Frame {
                    bytes,
                    permit: self.permit.take(),
                }));
            }
            let want = self.wanted();
            let filled = self.buf.len();
            let chunk = want
                .saturating_sub(filled)
                .clamp(READ_CHUNK, MAX_READ_CHUNK);
            let n = if self.socket_drained {
                self.wait_and_read(stream, chunk).await?
            } else {
                match self.receive_queued(stream, chunk) {
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.socket_drained = true;
                        continue;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            if n == 0 {
                return if filled == 0 {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated { have: filled, want })
                };
            }
        }
    }

    /// Waits in glommio's read (which honours the idle timeout) for at least one byte, into
    /// at most `WAIT_CHUNK` zeroed bytes at the end of the buffer. Room for all of `chunk` is
    /// reserved first, so that the receives that follow do not move the bytes read so far.
    async fn wait_and_read(
        &mut self,
        stream: &mut TcpStream,
        chunk: usize,
    ) -> Result<usize, FrameError> {
        let filled = self.buf.len();
        let size = chunk.min(WAIT_CHUNK);
        self.buf.reserve(chunk);
        self.buf.resize(filled + size, 0);
        let n = match stream.read(&mut self.buf[filled..]).await {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(filled);
                return Err(e.into());
            }
        };
        self.buf.truncate(filled + n);
        self.socket_drained = n < size;
        Ok(n)
    }

    /// Receives up to `size` bytes already queued on the socket into the buffer's spare
    /// capacity, without waiting and without zeroing it first.
    fn receive_queued(&mut self, stream: &TcpStream, size: usize) -> std::io::Result<usize> {
        self.buf.reserve(size);
        let spare: &mut [MaybeUninit<u8>] = &mut self.buf.spare_capacity_mut()[..size];
        // SAFETY: a valid socket fd and a writable region of `size` bytes that the kernel only
        // writes to; MSG_DONTWAIT makes the call non-blocking whatever the fd's flags.
        let rc = unsafe {
            libc::recv(
                stream.as_raw_fd(),
                spare.as_mut_ptr().cast::<libc::c_void>(),
                size,
                libc::MSG_DONTWAIT,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let n = rc as usize;
        // SAFETY: the kernel initialized the first `n` bytes of the spare capacity.
        unsafe { self.buf.set_len(self.buf.len() + n) };
        self.socket_drained = n < size;
        Ok(n)
    }

    /// Bytes needed for the frame at the front of the buffer (at least its size field).
    fn wanted(&self) -> usize {
        if self.buf.len() < 4 {
            return 4;
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        4 + size.max(0) as usize
    }

    /// The size of the frame at the front of the buffer, once its size field is in.
    fn frame_size(&self) -> Result<Option<usize>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let size = i32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]);
        if size < 0 {
            return Err(FrameError::NegativeSize(size));
        }
        let size = size as usize;
        if size > self.max_frame {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame,
            });
        }
        Ok(Some(size))
    }

    fn split_frame(&mut self) -> Result<Option<Bytes>, FrameError> {
        let Some(size) = self.frame_size()? else {
            return Ok(None);
        };
        if self.buf.len() < 4 + size {
            return Ok(None);
        }
        self.buf.advance(4);
        Ok(Some(self.buf.split_to(size).freeze()))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use glommio::net::TcpListener;
    use glommio::LocalExecutorBuilder;

    use super::*;

    fn framed(body: &[u8]) -> Vec<u8> {
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(body);
        frame
    }

    /// Frames of every size class, written in pieces that cut them anywhere (a size field
    /// included), come out whole and in order, whatever buffer each was read into; a
    /// connection that ends inside a frame is reported as such.
    #[test]
    fn frames_come_out_whole_however_the_bytes_arrive() {
        let sizes = [
            0usize,
            1,
            100,
            65_536,
            70_000,
            300_000,
            1_500_000,
            5,
            64 * 1024 - 4,
        ];
        let bodies: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(n, &size)| (0..size).map(|i| (i * 31 + n * 7) as u8).collect())
            .collect();
        let mut wire: Vec<u8> = bodies.iter().flat_map(|b| framed(b)).collect();
        // Half a frame at the end, then the connection closes.
        wire.extend_from_slice(&framed(&[9u8; 1000])[..600]);
        let expected = bodies.clone();
        LocalExecutorBuilder::default()
            .spawn(move || async move {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let address = listener.local_addr().unwrap();
                let writer = std::thread::spawn(move || {
                    let mut client = std::net::TcpStream::connect(address).unwrap();
                    // Pieces of prime sizes, so that cuts fall everywhere.
                    for piece in wire.chunks(7919) {
                        client.write_all(piece).unwrap();
                    }
                });
                let mut stream = listener.accept().await.unwrap();
                let memory = RequestMemory::new(None);
                let mut reader = FrameReader::new(2 << 20);
                for (n, body) in expected.iter().enumerate() {
                    let frame = reader
                        .next_frame(&mut stream, &memory)
                        .await
                        .unwrap()
                        .unwrap_or_else(|| panic!("frame {n} missing"));
                    assert!(frame.bytes[..] == body[..], "frame {n} differs");
                }
                writer.join().unwrap();
                match reader.next_frame(&mut stream, &memory).await {
                    Err(FrameError::Truncated {
                        have: 600,
                        want: 1004,
                    }) => {}
                    Err(other) => panic!("expected a truncated frame, got {other}"),
                    Ok(frame) => panic!(
                        "expected a truncated frame, got {:?}",
                        frame.map(|f| f.bytes.len())
                    ),
                }
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
