//! Writes a response's parts (framing plus the stored record bytes it references) with
//! vectored, non-blocking `sendmsg` calls: the record bytes go from the shard's buffers to the
//! socket without being gathered into one buffer first. When the socket is full, glommio's
//! write path waits for it to drain (io_uring poll), so the reactor never blocks.

use std::io::IoSlice;
use std::os::fd::AsRawFd;

use bytes::{Buf, Bytes};
use futures_lite::AsyncWriteExt;
use glommio::net::TcpStream;

/// iovecs per sendmsg (Linux's UIO_MAXIOV is 1024).
const MAX_IOVECS: usize = 256;

pub async fn send_all(stream: &mut TcpStream, mut parts: Vec<Bytes>) -> std::io::Result<()> {
    parts.retain(|p| !p.is_empty());
    let mut next = 0;
    while next < parts.len() {
        match send_vectored_nonblocking(stream, &parts[next..]) {
            Ok(mut sent) => {
                while sent > 0 {
                    let part = &mut parts[next];
                    if sent >= part.len() {
                        sent -= part.len();
                        next += 1;
                    } else {
                        part.advance(sent);
                        sent = 0;
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Socket buffer full: let glommio wait for writability and send some bytes.
                let part = &mut parts[next];
                let sent = stream.write(part).await?;
                part.advance(sent);
                if part.is_empty() {
                    next += 1;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn send_vectored_nonblocking(stream: &TcpStream, parts: &[Bytes]) -> std::io::Result<usize> {
    let slices: Vec<IoSlice<'_>> = parts
        .iter()
        .take(MAX_IOVECS)
        .map(|p| IoSlice::new(p))
        .collect();
    // SAFETY: msghdr is plain data; we point it at `slices`, which outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = slices.len();
    // SAFETY: a valid socket fd and a msghdr describing live buffers; MSG_DONTWAIT makes the
    // call non-blocking whatever the fd's flags, MSG_NOSIGNAL turns a closed peer into EPIPE.
    let rc = unsafe {
        libc::sendmsg(
            stream.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc as usize)
    }
}
