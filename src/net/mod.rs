//! Client connections: a SO_REUSEPORT listener per shard; per connection, one task reads Kafka
//! frames and starts a handler task for each, and a writer task sends the responses in request
//! order (as Kafka requires) with vectored sends. Produce requests are pipelined: the next one is
//! read while earlier ones wait for their acks; every other request is answered before the next
//! is read.

mod authenticate;
pub mod controller_listener;
mod frame;
mod limits;
mod open;
mod send;
mod tls;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use std::os::fd::{AsRawFd, FromRawFd};

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use glommio::sync::Semaphore;

use crate::config::ClientListener;
use crate::protocol;
use crate::shard::ops::{ShardOp, ShardReply};
use crate::shard::Shard;
use frame::FrameError;
pub(crate) use frame::FrameReader;
pub use limits::{AddressConnections, ConnectionCount, ConnectionSlot, RequestMemory};
pub use open::OpenConnections;
pub(crate) use send::send_all;
pub use tls::{connect as connect_tls, TlsPrincipal};

/// Binds a listener for this process alone (the CONTROLLER listener, the admin port).
/// glommio's `bind` sets SO_REUSEPORT (right for the client port every shard binds), which
/// would let a second process on the same port silently take half of the connections; here a
/// port in use is an error. A port still held by a killed predecessor (its io_uring lets go a
/// moment after it is gone) gets up to 10 s.
/// The address this node's outbound connections (quorum links, replica fetchers) start from,
/// set once at start (see [`set_outbound_source`]); unset: the kernel picks.
static OUTBOUND_SOURCE: std::sync::OnceLock<std::net::IpAddr> = std::sync::OnceLock::new();

/// A node that listens on a loopback address (127.x.y.z) connects from it too. Several nodes on
/// one machine (127.0.0.11, .12, .13, as the fault suite runs them in a network namespace) then
/// each talk from their own address, so a firewall rule can cut the link between two of them.
/// On other addresses the kernel picks the source, as for Kafka (a bind could defeat routing
/// over another interface).
pub fn set_outbound_source(listener: Option<std::net::IpAddr>) {
    if let Some(ip) = listener.filter(|ip| ip.is_loopback()) {
        let _ = OUTBOUND_SOURCE.set(ip);
    }
}

/// Connects to `address` within `timeout`, from this node's outbound source address when it
/// has one (bound, then connected on the blocking pool: connections to other nodes are rare
/// and the reactor must not block).
pub async fn connect(
    address: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<glommio::net::TcpStream> {
    use socket2::{Domain, Protocol, Socket, Type};
    let source = OUTBOUND_SOURCE
        .get()
        .copied()
        .filter(|ip| ip.is_ipv4() == address.is_ipv4() && *ip != address.ip());
    let Some(source) = source else {
        return glommio::net::TcpStream::connect_timeout(address, timeout)
            .await
            .map_err(std::io::Error::from);
    };
    let socket = glommio::executor()
        .spawn_blocking(move || -> std::io::Result<Socket> {
            let socket = Socket::new(
                Domain::for_address(address),
                Type::STREAM,
                Some(Protocol::TCP),
            )?;
            socket.bind(&std::net::SocketAddr::new(source, 0).into())?;
            socket.connect_timeout(&address.into(), timeout)?;
            Ok(socket)
        })
        .await?;
    use std::os::fd::{FromRawFd, IntoRawFd};
    // SAFETY: a connected socket whose fd we own and hand over.
    Ok(unsafe { glommio::net::TcpStream::from_raw_fd(socket.into_raw_fd()) })
}

pub async fn bind_exclusive(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::fd::{FromRawFd, IntoRawFd};
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let socket = Socket::new(
            Domain::for_address(address),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        // SO_REUSEADDR only: a restart may bind while old connections sit in TIME_WAIT.
        socket.set_reuse_address(true)?;
        match socket
            .bind(&address.into())
            .and_then(|()| socket.listen(1024))
        {
            Ok(()) => {
                // SAFETY: a bound, listening socket whose fd we own and hand over.
                return Ok(unsafe { TcpListener::from_raw_fd(socket.into_raw_fd()) });
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                glommio::timer::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Binds the client port on this shard. glommio sets SO_REUSEPORT, so every shard binds the same
/// address and the kernel spreads connections over them.
pub fn bind(address: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).map_err(|e| std::io::Error::other(e.to_string()))
}

/// How often a shard at `max.connections` looks for a free place.
const FULL_RECHECK: Duration = Duration::from_millis(10);

pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, client: Rc<ClientListener>) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(e) => {
                // Out of file descriptors and the like: log, back off briefly, keep serving.
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let peer = stream
            .peer_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let Some(slot) = admit(&shard, peer).await else {
            // max.connections.per.ip: closed at once, as Kafka does.
            drop(stream);
            continue;
        };
        // The config has a TLS server configuration whenever a listener uses TLS.
        match shard
            .config
            .tls
            .clone()
            .filter(|_| client.protocol.uses_tls())
        {
            Some(config) => {
                glommio::spawn_local(tls::serve_tls(
                    shard.clone(),
                    stream,
                    peer,
                    slot,
                    client.clone(),
                    config,
                ))
                .detach();
            }
            None => {
                glommio::spawn_local(serve_connection(
                    shard.clone(),
                    stream,
                    peer,
                    slot,
                    client.clone(),
                    None,
                ))
                .detach();
            }
        }
    }
}

/// A place for the connection from `peer`: at `max.connections` this shard accepts nothing
/// more until one closes (Kafka's acceptor blocks the same way); over
/// `max.connections.per.ip`, counted by the address's owner shard, the answer is `None`.
async fn admit(shard: &Rc<Shard>, peer: SocketAddr) -> Option<ConnectionSlot> {
    let mut logged_full = false;
    let slot = loop {
        if let Some(slot) = shard.connection_count.try_take() {
            break slot;
        }
        if !logged_full {
            tracing::warn!(%peer, max_connections = shard.connection_count.max(), "max.connections reached: accepting no more connections until one closes");
            logged_full = true;
        }
        glommio::timer::sleep(FULL_RECHECK).await;
    };
    if !shard.config.connections.limits_addresses() {
        return Some(slot);
    }
    let ip = peer.ip();
    let owner = limits::owner_of_address(ip, shard.count);
    match shard.call(owner, ShardOp::AdmitAddress(ip)).await {
        Ok(ShardReply::AddressAdmitted(true)) => Some(slot),
        Ok(_) => {
            let limit = shard.config.connections.limit_for(ip);
            tracing::warn!(%peer, reason = %format!("{ip} has {limit} connections open (max.connections.per.ip)"), "rejecting connection");
            shard.metrics.connection_refused();
            None
        }
        Err(e) => {
            tracing::warn!(%peer, error = %e, "rejecting connection: the shard counting its address is gone");
            None
        }
    }
}

/// Gives the connection's place back on its address's owner shard.
async fn release_address(shard: &Rc<Shard>, ip: std::net::IpAddr) {
    if shard.config.connections.limits_addresses() {
        let owner = limits::owner_of_address(ip, shard.count);
        let _ = shard.call(owner, ShardOp::ReleaseAddress(ip)).await;
    }
}

async fn serve_connection(
    shard: Rc<Shard>,
    mut stream: TcpStream,
    peer: SocketAddr,
    slot: ConnectionSlot,
    client: Rc<ClientListener>,
    tls_principal: Option<tls::TlsPrincipal>,
) {
    set_client_socket_options(&shard, &stream, peer);
    tracing::debug!(%peer, shard = shard.id, "connection opened");
    shard.metrics.connection_opened();
    let mut reader = FrameReader::new(shard.config.socket_request_max_bytes);
    // SASL listeners authenticate before any other request is read (Kafka's
    // SaslServerAuthenticator); the principal is Kafka's User:NAME. Otherwise it is the TLS
    // client certificate's, known once the first request has come through the handshake.
    let mut principal: Option<Rc<str>> = None;
    // KIP-368: when a SASL login stops being valid (`connections.max.reauth.ms`).
    let reauth_after = shard
        .config
        .connections_max_reauth_ms
        .map(Duration::from_millis);
    let mut sasl_login: Option<(String, Option<Instant>)> = None;
    if client.protocol.uses_sasl() {
        let authenticated = authenticate::authenticate(
            &shard,
            &mut stream,
            &mut reader,
            (peer, &client.name),
            authenticate::Login::default(),
        )
        .await;
        let Some(user) = authenticated else {
            // SAFETY: shutdown on an open socket fd; it only changes the socket's state.
            unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR) };
            release_address(&shard, peer.ip()).await;
            drop(slot);
            shard.metrics.connection_closed();
            return;
        };
        principal = Some(Rc::from(crate::security::principal::user(&user)));
        sasl_login = Some((user, reauth_after.map(|after| Instant::now() + after)));
    }
    // Responses go out on a second handle of the same socket, from a writer task: the reader
    // can read request N+1 while N waits for its acks, and the writer sends the answers in
    // request order, as Kafka requires. (One read loop per connection, no racing reads.)
    let writer_stream = match duplicate(&stream) {
        Ok(writer_stream) => writer_stream,
        Err(e) => {
            tracing::warn!(%peer, error = %e, "cannot duplicate the connection's socket; closing");
            shard.metrics.connection_closed();
            return;
        }
    };
    // The writer's handle lives as long as the connection: it is the one a shutdown reaches.
    let registered = shard.connections.insert(writer_stream.as_raw_fd());
    let (in_flight, responses) = local_channel::new_bounded(MAX_IN_FLIGHT_REQUESTS);
    // KIP-219: after a throttled response the connection reads nothing until this instant.
    let muted_until: Rc<Cell<Option<Instant>>> = Rc::new(Cell::new(None));
    glommio::spawn_local(write_responses(
        shard.clone(),
        peer,
        writer_stream,
        (responses, muted_until.clone()),
        (registered, slot),
    ))
    .detach();
    let turns = Rc::new(Semaphore::new(REQUEST_TURNS));
    loop {
        let frame::Frame {
            bytes: frame,
            permit,
        } = match reader.next_frame(&mut stream, &shard.request_memory).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                tracing::info!(%peer, "closing idle connection (connections.max.idle.ms)");
                break;
            }
            Err(FrameError::Io(e)) => {
                tracing::debug!(%peer, error = %e, "connection read failed");
                break;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        // A large request is not read ahead of: read-ahead holds at most
        // MAX_IN_FLIGHT_REQUESTS x PIPELINED_FRAME_MAX_BYTES per connection on top of the one
        // request being handled.
        if permit.as_ref().is_some_and(|p| p.waited) {
            shard.metrics.request_memory_waited();
        }
        if let Some((user, expires)) = &mut sasl_login {
            if protocol::api_key(&frame) == kafka_protocol::messages::ApiKey::SaslHandshake as i16 {
                // KIP-368: the client logs in again. Every earlier response goes out first, then
                // the exchange runs on this connection as the first login did.
                if !all_answered(&in_flight).await {
                    break;
                }
                drop(permit);
                let login = authenticate::Login {
                    first_frame: Some(frame),
                    same_user_as: Some(user),
                };
                let again = authenticate::authenticate(
                    &shard,
                    &mut stream,
                    &mut reader,
                    (peer, &client.name),
                    login,
                )
                .await;
                if again.is_none() {
                    break;
                }
                tracing::info!(%peer, %user, "re-authenticated (KIP-368)");
                *expires = reauth_after.map(|after| Instant::now() + after);
                continue;
            }
            if expires.is_some_and(|at| Instant::now() > at) {
                tracing::info!(%peer, %user, "closing connection: its SASL session expired (connections.max.reauth.ms)");
                break;
            }
        }
        // KIP-219: a request that comes while the connection is muted waits for the mute to
        // end, as if it had not been read (the reader may be waiting for a frame when a
        // pipelined produce's throttled response is sent).
        while let Some(until) = muted_until.get().filter(|u| *u > Instant::now()) {
            glommio::timer::sleep(until - Instant::now()).await;
        }
        let principal = principal
            .get_or_insert_with(|| {
                let from_certificate = tls_principal.as_ref().and_then(|p| p.borrow().clone());
                Rc::from(
                    from_certificate
                        .as_deref()
                        .unwrap_or(crate::security::acl::ANONYMOUS),
                )
            })
            .clone();
        let pipelined = protocol::is_pipelined(&frame) && frame.len() <= PIPELINED_FRAME_MAX_BYTES;
        // Handlers run as tasks in the order they were read; a produce handler starts its
        // appends (or sends them to the owner shard) on its first poll, so appends of one
        // connection keep their order even while their acks are awaited together.
        // Kafka handles a connection's requests one at a time, so any request sees what the
        // earlier ones did (a ListOffsets after produce requests sees their records). Pipelined
        // produce requests each hold one turn, taken here, in read order; any other request
        // waits for all turns, that is, until every earlier handler of the connection is done.
        let units = if pipelined { 1 } else { REQUEST_TURNS };
        let taken = turns.try_acquire_static_permit(units).ok();
        let handler = glommio::spawn_local({
            let shard = shard.clone();
            let api_key = protocol::api_key(&frame);
            let read_at = std::time::Instant::now();
            let turns = turns.clone();
            let client = client.clone();
            async move {
                let _turn = match taken {
                    Some(turn) => Some(turn),
                    None => turns.acquire_static_permit(units).await.ok(),
                };
                let origin = protocol::Origin {
                    peer,
                    listener: &client.name,
                    principal: &principal,
                };
                let result = protocol::handle(&shard, origin, frame).await;
                shard.metrics.request_handled(api_key, read_at.elapsed());
                // The request's memory is given back once it is answered.
                drop(permit);
                result
            }
        });
        let (done, answered) = if pipelined {
            (None, None)
        } else {
            let (done, answered) = local_channel::new_bounded(1);
            (Some(done), Some(answered))
        };
        if in_flight.send(InFlight { handler, done }).await.is_err() {
            break; // the writer stopped: the connection is closing
        }
        // Everything but Produce is answered before the next request is read, as Kafka does.
        if let Some(answered) = answered {
            if answered.recv().await.is_none() {
                break;
            }
        }
    }
    tracing::debug!(%peer, "connection reader done");
}

/// Waits until the writer has sent every response of requests read so far; false when the
/// connection is closing.
async fn all_answered(in_flight: &LocalSender<InFlight>) -> bool {
    let (done, answered) = local_channel::new_bounded(1);
    let barrier = InFlight {
        handler: glommio::spawn_local(async { Ok(None) }),
        done: Some(done),
    };
    in_flight.send(barrier).await.is_ok() && answered.recv().await.is_some()
}

/// A response's parts; none for a throttled acks=0 produce.
async fn send_parts(stream: &mut TcpStream, parts: Vec<bytes::Bytes>) -> std::io::Result<()> {
    match parts.is_empty() {
        true => Ok(()),
        false => send::send_all(stream, parts).await,
    }
}

/// TCP_NODELAY, and `connections.max.idle.ms` as glommio's own read timeout (no racing of read
/// futures): a client that goes quiet, or never finishes a TLS handshake, is closed.
fn set_client_socket_options(shard: &Shard, stream: &TcpStream, peer: SocketAddr) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "TCP_NODELAY");
    }
    let idle = shard
        .config
        .connections_max_idle_ms
        .map(Duration::from_millis);
    if let Err(e) = stream.set_read_timeout(idle) {
        tracing::debug!(%peer, error = %e, "read timeout");
    }
}

/// Turns of a connection's request handlers: more than can be in flight at once (the queue to
/// the writer, plus the one it is sending), so a pipelined produce never waits for one.
const REQUEST_TURNS: u64 = 64;

/// Requests of one connection read ahead of their responses (librdkafka keeps up to 5
/// produce requests in flight per connection by default).
const MAX_IN_FLIGHT_REQUESTS: usize = 16;

/// Produce requests up to this size are pipelined (librdkafka's and the Java client's request
/// limit, `message.max.bytes` / `max.request.size`, is about 1 MB by default).
const PIPELINED_FRAME_MAX_BYTES: usize = 1 << 20;

struct InFlight {
    handler: glommio::Task<Result<Option<protocol::Response>, protocol::RequestError>>,
    /// Told when the response is sent, for requests the reader waits on.
    done: Option<LocalSender<()>>,
}

/// A second handle on the socket for the writer (the reader keeps the first).
pub(crate) fn duplicate(stream: &TcpStream) -> std::io::Result<TcpStream> {
    // SAFETY: dup of an fd we own; the new fd is owned by the returned stream.
    let fd = unsafe { libc::dup(stream.as_raw_fd()) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is a fresh, open socket descriptor owned by no one else.
    Ok(unsafe { TcpStream::from_raw_fd(fd) })
}

/// Sends the responses in request order; on a failed send or a bad request it shuts the
/// socket down, which ends the reader's wait for the next frame. The connection is over when
/// this task ends: its registration and its place in the connection limits go then.
async fn write_responses(
    shard: Rc<Shard>,
    peer: SocketAddr,
    mut stream: TcpStream,
    (requests, muted_until): (LocalReceiver<InFlight>, Rc<Cell<Option<Instant>>>),
    (registered, slot): (u64, ConnectionSlot),
) {
    send_in_order(peer, &mut stream, requests, &muted_until).await;
    shard.connections.remove(registered);
    drop(stream);
    release_address(&shard, peer.ip()).await;
    drop(slot);
    shard.metrics.connection_closed();
    tracing::debug!(%peer, "connection closed");
}

async fn send_in_order(
    peer: SocketAddr,
    stream: &mut TcpStream,
    requests: LocalReceiver<InFlight>,
    muted_until: &Cell<Option<Instant>>,
) {
    while let Some(InFlight { handler, done }) = requests.recv().await {
        let keep_open = match handler.await {
            Ok(Some(response)) => {
                if let Some(throttle) = response.throttle {
                    let until = Instant::now() + Duration::from_millis(throttle.ms);
                    muted_until.set(Some(muted_until.get().map_or(until, |u| u.max(until))));
                    if throttle.delay_response {
                        glommio::timer::sleep(Duration::from_millis(throttle.ms)).await;
                    }
                }
                match send_parts(stream, response.parts).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "connection write failed");
                        false
                    }
                }
            }
            Ok(None) => true,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad request");
                false
            }
        };
        if !keep_open {
            // SAFETY: shutdown on an open socket fd; it only changes the socket's state.
            unsafe { libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR) };
            return;
        }
        if let Some(done) = done {
            let _ = done.try_send(());
        }
    }
}
