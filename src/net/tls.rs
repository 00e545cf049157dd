//! TLS for SSL and SASL_SSL listeners, with rustls, terminated on the shard that accepted the
//! connection. The decrypted stream is handed to the ordinary connection code through a local
//! socket pair, so Kafka's framing, pipelining, SASL and the plaintext path stay one code path
//! (and the plaintext path pays nothing for TLS). Three tasks per connection, none racing reads
//! on one socket: `inbound` reads records from the client and writes their plaintext to the
//! pair; `outbound` reads responses from the pair into rustls; `send_records` is the only
//! writer of the client's socket (handshake messages, application data, alerts). The same
//! three tasks carry this broker's own connections to another broker's TLS inter-broker
//! listener (`connect`), with rustls as the client.
//!
//! The pair costs one extra copy of every byte through the kernel each way; with TLS every
//! byte is copied (encrypted) anyway, and Kafka's own TLS path loses zero-copy sends too.
//! Measured cost: perf/RESULTS.md ("TLS").

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd};
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::TcpStream;

use super::{duplicate, send_all, ConnectionSlot};
use crate::config::ClientListener;
use crate::shard::Shard;

/// Responses buffered in rustls beyond this wait for the client to take what is queued.
const UNSENT_LIMIT: usize = 1 << 20;
/// Ciphertext read from the client at a time (a TLS record is at most about 16 KiB).
const RECORD_READ: usize = 64 * 1024;

/// Why a TLS connection ended early, for the log line.
#[derive(Debug, thiserror::Error)]
enum TlsError {
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Principal(#[from] crate::security::principal::PrincipalError),
    #[error("the TLS session is in use by a handshake step")]
    InUse,
}

/// The principal of a connection whose handshake is done: its client certificate's subject
/// mapped by `ssl.principal.mapping.rules`, else `User:ANONYMOUS` (Kafka's
/// DefaultKafkaPrincipalBuilder for SSL).
fn certificate_principal(
    shard: &Shard,
    tls: &rustls::ServerConnection,
) -> Result<String, TlsError> {
    use crate::security::principal;
    let Some(certificate) = tls.peer_certificates().and_then(|chain| chain.first()) else {
        return Ok(crate::security::acl::ANONYMOUS.to_string());
    };
    let subject = principal::certificate_subject(certificate)?;
    let name = shard.config.ssl_principal_mapper.name(&subject)?;
    Ok(principal::user(&name))
}

/// The principal of a TLS connection, from its client certificate: set by `inbound` when the
/// handshake completes, before any plaintext reaches the connection code (which reads it with
/// the first request). `User:ANONYMOUS` without a client certificate.
pub type TlsPrincipal = Rc<RefCell<Option<String>>>;

/// What the three tasks of one connection share: an accepted connection (a server session,
/// whose client certificate gives the principal), or one this broker made to another broker's
/// TLS inter-broker listener (a client session).
struct Session {
    /// None while an accepted connection's handshake step runs on a blocking thread.
    tls: RefCell<Option<rustls::Connection>>,
    peer: SocketAddr,
    /// For an accepted connection: its shard (for `ssl.principal.mapping.rules`) and where the
    /// principal goes.
    accepted: Option<(Rc<Shard>, TlsPrincipal)>,
    /// Ciphertext rustls holds for the client: `outbound` waits while it is over the limit.
    unsent: Cell<usize>,
    /// The connection is ending: `send_records` shuts the client's socket once it has sent
    /// what rustls has queued (an alert or close_notify).
    closing: Cell<bool>,
}

/// Serves one accepted TLS connection: the handshake and records here, the Kafka protocol in
/// `serve_connection` on the other end of a socket pair.
pub(super) async fn serve_tls(
    shard: Rc<Shard>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    client: Rc<ClientListener>,
    config: Arc<rustls::ServerConfig>,
) {
    super::set_client_socket_options(&shard, &stream, peer);
    let (broker_side, principal) = match accept(shard.clone(), stream, peer, config) {
        Ok(accepted) => accepted,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "closing connection: cannot start TLS");
            super::release_address(&shard, peer.ip()).await;
            drop(slot);
            return;
        }
    };
    super::serve_connection(shard, broker_side, peer, slot, client, Some(principal)).await;
}

/// Starts the server side of TLS on an accepted connection: the returned stream carries its
/// plaintext, and the principal is set from the client certificate once the handshake is
/// done, before any plaintext comes out of the stream. Used by the client listeners and the
/// controller listener (`quorum::wire`).
pub fn accept(
    shard: Rc<Shard>,
    stream: TcpStream,
    peer: SocketAddr,
    config: Arc<rustls::ServerConfig>,
) -> std::io::Result<(TcpStream, TlsPrincipal)> {
    let tls = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let principal = TlsPrincipal::default();
    let broker_side = start(tls.into(), stream, peer, Some((shard, principal.clone())))?;
    Ok((broker_side, principal))
}

/// Connects over TLS to another broker's TLS listener at `peer` (`host` names it for the
/// certificate check): the returned stream carries plaintext, its TLS records are made and
/// read by three tasks as for an accepted connection.
pub async fn connect(
    stream: TcpStream,
    peer: SocketAddr,
    host: &str,
    config: Arc<rustls::ClientConfig>,
) -> std::io::Result<TcpStream> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| invalid(format!("{host}: {e}")))?;
    let tls = rustls::ClientConnection::new(config, name).map_err(|e| invalid(e.to_string()))?;
    // The client speaks first (ClientHello): rustls has it queued already.
    start(tls.into(), stream, peer, None)
}

/// Starts the three tasks of a TLS session on `stream`; returns the socket-pair end that
/// carries its plaintext.
fn start(
    mut tls: rustls::Connection,
    stream: TcpStream,
    peer: SocketAddr,
    accepted: Option<(Rc<Shard>, TlsPrincipal)>,
) -> std::io::Result<TcpStream> {
    // rustls holds 64 KiB of plaintext by default and refuses more; `outbound` bounds what is
    // queued itself (UNSENT_LIMIT), so a 1 MiB fetch response goes in whole.
    tls.set_buffer_limit(None);
    let (plaintext_side, pump_side) = socket_pair()?;
    let pump_writer = duplicate(&pump_side)?;
    let peer_writer = duplicate(&stream)?;
    let session = Rc::new(Session {
        tls: RefCell::new(Some(tls)),
        peer,
        accepted,
        unsent: Cell::new(0),
        closing: Cell::new(false),
    });
    glommio::spawn_local(run_session(
        session,
        stream,
        (pump_side, pump_writer),
        peer_writer,
    ))
    .detach();
    Ok(plaintext_side)
}

/// The three tasks of a TLS connection: records in (this task), plaintext out, records out.
async fn run_session(
    session: Rc<Session>,
    stream: TcpStream,
    (pump_side, pump_writer): (TcpStream, TcpStream),
    peer_writer: TcpStream,
) {
    let (wake, woken) = local_channel::new_bounded(1);
    let wake = Rc::new(wake);
    let (drained, wait_drained) = local_channel::new_bounded(1);
    glommio::spawn_local(send_records(session.clone(), peer_writer, woken, drained)).detach();
    glommio::spawn_local(outbound(
        session.clone(),
        pump_side,
        wake.clone(),
        wait_drained,
    ))
    .detach();
    // Whatever rustls queued before any record came in (a client's ClientHello).
    let _ = wake.try_send(());
    inbound(session, stream, pump_writer, wake).await;
}

/// Client → broker: ciphertext in, plaintext to the pair.
async fn inbound(
    session: Rc<Session>,
    mut stream: TcpStream,
    mut pump: TcpStream,
    wake: Rc<LocalSender<()>>,
) {
    let peer = session.peer;
    let mut ciphertext = vec![0u8; RECORD_READ];
    // The plaintext of every record of one read, written to the pair at once: one write per
    // read rather than one per record (a read holds up to four 16 KiB records).
    let mut plaintext: Vec<u8> = Vec::with_capacity(RECORD_READ);
    let result: Result<(), TlsError> = async {
        loop {
            let n = stream.read(&mut ciphertext).await?;
            if n == 0 {
                return Ok(());
            }
            plaintext.clear();
            let decrypted = match session.handshaking_server() {
                true => handshake_step(&session, &ciphertext[..n], &mut plaintext).await,
                false => session
                    .with_tls(|tls| decrypt(tls, &ciphertext[..n], &mut plaintext))
                    .unwrap_or_else(|| Err(TlsError::InUse)),
            };
            if let Err(e) = decrypted {
                // An error leaves an alert queued for the client.
                let _ = wake.try_send(());
                return Err(e);
            }
            if let Some((shard, principal)) = &session.accepted {
                let tls = session.tls.borrow();
                if let Some(rustls::Connection::Server(server)) = tls.as_ref() {
                    if !server.is_handshaking() && principal.borrow().is_none() {
                        let name = certificate_principal(shard, server)?;
                        tracing::debug!(%peer, principal = %name, "TLS handshake done");
                        *principal.borrow_mut() = Some(name);
                    }
                }
            }
            // Handshake messages (or alerts) the records called for go out now.
            let _ = wake.try_send(());
            if !plaintext.is_empty() {
                pump.write_all(&plaintext).await?;
            }
        }
    }
    .await;
    match result {
        Ok(()) => tracing::debug!(%peer, "TLS client closed the connection"),
        Err(TlsError::Io(e)) => tracing::debug!(%peer, error = %e, "TLS connection read ended"),
        // A plaintext client on a TLS port, an untrusted certificate, a bad record.
        Err(e) => tracing::warn!(%peer, error = %e, "closing TLS connection"),
    }
    session.closing.set(true);
    let _ = wake.try_send(());
    // The broker side sees the end of its stream and closes the connection.
    // SAFETY: shutdown on an open socket fd; it only changes the socket's state.
    unsafe { libc::shutdown(pump.as_raw_fd(), libc::SHUT_WR) };
}

impl Session {
    /// An accepted connection still in its handshake.
    fn handshaking_server(&self) -> bool {
        self.accepted.is_some()
            && self
                .tls
                .borrow()
                .as_ref()
                .is_some_and(|tls| tls.is_handshaking())
    }

    /// Runs `f` on the rustls state, unless a handshake step has it on a blocking thread.
    fn with_tls<R>(&self, f: impl FnOnce(&mut rustls::Connection) -> R) -> Option<R> {
        self.tls.borrow_mut().as_mut().map(f)
    }
}

/// Feeds `ciphertext` to rustls and appends the plaintext of its records to `plaintext`.
fn decrypt(
    tls: &mut rustls::Connection,
    mut ciphertext: &[u8],
    plaintext: &mut Vec<u8>,
) -> Result<(), TlsError> {
    while !ciphertext.is_empty() {
        tls.read_tls(&mut ciphertext)?;
        let state = tls.process_new_packets()?;
        let start = plaintext.len();
        plaintext.resize(start + state.plaintext_bytes_to_read(), 0);
        tls.reader().read_exact(&mut plaintext[start..])?;
    }
    Ok(())
}

/// A read of an accepted connection's handshake, handled on a blocking thread: its public-key
/// work (the server's signature and key agreement; milliseconds with an RSA key) must not hold
/// up the shard's other connections. The session is handed over and back; meanwhile nothing
/// else needs it, since the broker writes nothing to a client before its first request.
async fn handshake_step(
    session: &Session,
    ciphertext: &[u8],
    plaintext: &mut Vec<u8>,
) -> Result<(), TlsError> {
    let Some(mut tls) = session.tls.borrow_mut().take() else {
        return Err(TlsError::InUse);
    };
    let input = ciphertext.to_vec();
    // The plaintext buffer goes along and comes back: nothing is copied out of it.
    let mut out = std::mem::take(plaintext);
    let (tls, out, decrypted) = glommio::executor()
        .spawn_blocking(move || {
            let decrypted = decrypt(&mut tls, &input, &mut out);
            (tls, out, decrypted)
        })
        .await;
    *session.tls.borrow_mut() = Some(tls);
    *plaintext = out;
    decrypted
}

/// Broker → client: responses from the pair into rustls, for `send_records` to send.
async fn outbound(
    session: Rc<Session>,
    mut pump: TcpStream,
    wake: Rc<LocalSender<()>>,
    drained: LocalReceiver<()>,
) {
    let mut plaintext = vec![0u8; RECORD_READ];
    loop {
        while session.unsent.get() > UNSENT_LIMIT && !session.closing.get() {
            if drained.recv().await.is_none() {
                break;
            }
        }
        let n = match pump.read(&mut plaintext).await {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(peer = %session.peer, error = %e, "TLS pair read failed");
                0
            }
        };
        // The broker writes nothing before a client's first request, which needs the
        // handshake done; should it, it waits for a handshake step to hand the session back.
        while session.tls.borrow().is_none() && !session.closing.get() {
            glommio::timer::sleep(std::time::Duration::from_millis(1)).await;
        }
        if n == 0 || session.closing.get() {
            session.with_tls(|tls| tls.send_close_notify());
            session.closing.set(true);
            let _ = wake.try_send(());
            return;
        }
        let written = session.with_tls(|tls| tls.writer().write_all(&plaintext[..n]));
        if let Some(Err(e)) = written {
            tracing::warn!(peer = %session.peer, error = %e, "closing TLS connection: a response could not be encrypted");
            session.closing.set(true);
            let _ = wake.try_send(());
            return;
        }
        session.unsent.set(session.unsent.get() + n);
        let _ = wake.try_send(());
    }
}

/// The one writer of the client's socket: whatever rustls has queued, whenever woken.
async fn send_records(
    session: Rc<Session>,
    mut stream: TcpStream,
    woken: LocalReceiver<()>,
    drained: LocalSender<()>,
) {
    loop {
        // Nothing while a handshake step has the session: it wakes this task when done.
        let queued = session
            .with_tls(|tls| {
                let mut out = Vec::new();
                while tls.wants_write() {
                    if tls.write_tls(&mut out).is_err() {
                        break;
                    }
                }
                out
            })
            .unwrap_or_default();
        if !queued.is_empty() {
            let len = queued.len();
            if let Err(e) = send_all(&mut stream, vec![Bytes::from(queued)]).await {
                tracing::debug!(peer = %session.peer, error = %e, "TLS send failed");
                session.closing.set(true);
            }
            session.unsent.set(session.unsent.get().saturating_sub(len));
            let _ = drained.try_send(());
            continue;
        }
        if session.closing.get() {
            // SAFETY: shutdown on an open socket fd; it only changes the socket's state.
            unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR) };
            let _ = drained.try_send(());
            return;
        }
        if woken.recv().await.is_none() {
            return;
        }
    }
}

/// A connected pair of local stream sockets, as glommio streams.
fn socket_pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two fds into the array on success.
    let rc = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: two fresh, connected stream sockets that nothing else owns. glommio's stream
    // reads and writes them like TCP sockets (recv, send, sendmsg).
    Ok(unsafe {
        (
            TcpStream::from_raw_fd(fds[0]),
            TcpStream::from_raw_fd(fds[1]),
        )
    })
}
