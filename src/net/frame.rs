//! Kafka framing on the read side: a 4-byte big-endian size, then that many bytes. Frames are
//! cut from one connection buffer as `Bytes`, so a produce request's records are never copied
//! again on their way to the log.

use bytes::{Buf, Bytes, BytesMut};
use futures_lite::AsyncReadExt;
use glommio::net::TcpStream;

use super::limits::{RequestMemory, RequestPermit};

/// How much more the buffer asks the socket for at a time: memory follows the bytes that
/// actually arrive, not the size a frame claims.
const READ_CHUNK: usize = 64 * 1024;
const MAX_READ_CHUNK: usize = 1024 * 1024;

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
            self.buf.resize(filled + chunk, 0);
            let n = match stream.read(&mut self.buf[filled..]).await {
                Ok(n) => n,
                Err(e) => {
                    self.buf.truncate(filled);
                    return Err(e.into());
                }
            };
            self.buf.truncate(filled + n);
            if n == 0 {
                return if filled == 0 {
                    Ok(None)
                } else {
                    Err(FrameError::Truncated { have: filled, want })
                };
            }
        }
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
