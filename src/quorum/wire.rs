//! The controller listener's traffic between nodes: Raft messages of the metadata quorum, and
//! calls to the active controller (Kafka requests such as BrokerRegistration, BrokerHeartbeat
//! or a forwarded CreateTopics, answered with Kafka responses, as KIP-590 forwarding does).
//!
//! Each frame is `[i32 size][u8 kind][payload]`:
//! - `RAFT`: a raft-rs `Message` (protobuf), one way;
//! - `CALL`: `[u64 call id]` and a Kafka request (header and body);
//! - `REPLY`: `[u64 call id]` and the Kafka response (header and body), or nothing when the
//!   node could not answer (it is not the active controller); also the answer to a `FETCH`;
//! - `FETCH`: `[u64 call id][u64 after index][u32 max wait ms]`: a broker-only node (KRaft's
//!   observer) asks a voter for the committed metadata after the index it has applied
//!   (`observer`).
//!
//! Every node keeps one outbound connection per peer (reconnecting after a failure) for what it
//! sends; what it receives arrives on the peers' connections to its listener.
//!
//! The listener is secured as its protocol in `listener.security.protocol.map` says, before
//! the first frame: TLS (`Handlers::admit`, `Dialer`), then on a SASL listener a Kafka
//! SaslHandshake and SaslAuthenticate exchange in Kafka's framing. With an authorizer, every
//! frame needs the connection's principal to hold CLUSTER_ACTION on the cluster, as Kafka's
//! controller asks of Vote, Fetch, BrokerRegistration, BrokerHeartbeat and Envelope: an
//! Envelope names its client's principal, so only a trusted node may send one.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::net::{TcpListener, TcpStream};
use protobuf::Message as _;
use raft::eraftpb::Message;

use crate::net::{duplicate, FrameReader, RequestMemory};

const RAFT: u8 = 1;
const CALL: u8 = 2;
const REPLY: u8 = 3;
const FETCH: u8 = 4;

/// Snapshots of the metadata travel as one Raft message.
const MAX_FRAME: usize = 64 << 20;
/// Frames queued for a peer that is down are dropped past this many (Raft resends).
const PEER_QUEUE: usize = 4096;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
const RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
/// The longest an observer's fetch is held waiting for new metadata.
const MAX_FETCH_WAIT: Duration = Duration::from_secs(1);

/// The principal of a connection to the controller listener, once known: at once on a
/// PLAINTEXT or SASL listener, after the handshake on an SSL one (set before any plaintext
/// comes out of the stream).
pub type Principal = crate::net::TlsPrincipal;

/// Why a node could not open its connection to a voter.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum DialError {
    #[error("{0}")]
    Unreachable(String),
    /// The voter refused the login or the certificate: worth a warning.
    #[error("refused: {0}")]
    Refused(String),
}

type Dial = dyn Fn(SocketAddr) -> super::LocalBoxFuture<Result<TcpStream, DialError>>;

/// How a node opens its connection to a voter's controller listener: connected, and secured
/// as the listener's protocol says (TLS, login).
#[derive(Clone)]
pub struct Dialer(Rc<Dial>);

impl Dialer {
    pub fn new(
        dial: impl Fn(SocketAddr) -> super::LocalBoxFuture<Result<TcpStream, DialError>> + 'static,
    ) -> Self {
        Dialer(Rc::new(dial))
    }

    /// A PLAINTEXT listener's: a TCP connection.
    pub fn plaintext() -> Self {
        Dialer::new(|address| {
            Box::pin(async move {
                crate::net::connect(address, CONNECT_TIMEOUT)
                    .await
                    .map_err(|e| DialError::Unreachable(e.to_string()))
            })
        })
    }

    async fn dial(&self, address: SocketAddr) -> Result<TcpStream, DialError> {
        (self.0)(address).await
    }
}

impl std::fmt::Debug for Dialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Dialer")
    }
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum CallError {
    #[error("node {0} is not reachable")]
    Unreachable(u64),
    #[error("node {0} did not answer in time")]
    Timeout(u64),
    #[error("node {0} is not the active controller")]
    NotController(u64),
}

fn frame(kind: u8, call_id: Option<u64>, payload: &[u8]) -> Bytes {
    let extra = if call_id.is_some() { 8 } else { 0 };
    let mut out = BytesMut::with_capacity(5 + extra + payload.len());
    out.put_i32((1 + extra + payload.len()) as i32);
    out.put_u8(kind);
    if let Some(id) = call_id {
        out.put_u64(id);
    }
    out.extend_from_slice(payload);
    out.freeze()
}

fn split_call(mut body: Bytes) -> Option<(u64, Bytes)> {
    if body.len() < 8 {
        return None;
    }
    let rest = body.split_off(8);
    let id = u64::from_be_bytes(body[..8].try_into().ok()?);
    Some((id, rest))
}

/// Secures an accepted connection: its plaintext stream and principal.
pub type Admit =
    dyn Fn(TcpStream, SocketAddr) -> super::LocalBoxFuture<Option<(TcpStream, Principal)>>;
/// Whether a principal at an address may send frames.
pub type Authorized = dyn Fn(&str, SocketAddr) -> bool;

/// What a node does with what peers send it.
pub struct Handlers {
    /// Secures an accepted connection as the listener's protocol says (TLS, SASL login): its
    /// plaintext stream and principal, or `None` to close it (logged there).
    pub admit: Box<Admit>,
    /// Whether a principal may send frames here (CLUSTER_ACTION on the cluster).
    pub authorized: Box<Authorized>,
    pub raft: Box<dyn Fn(Message)>,
    /// Answers a call (a Kafka request) with a Kafka response, or `None` when this node is not
    /// the one to ask.
    pub call: Box<dyn Fn(Bytes, SocketAddr) -> super::LocalBoxFuture<Option<Bytes>>>,
    /// Answers an observer's metadata fetch: (after index, longest wait) to the encoded answer.
    pub fetch: Box<dyn Fn(u64, Duration) -> super::LocalBoxFuture<Bytes>>,
}

/// Serves the controller listener until the task is dropped.
pub async fn serve(listener: TcpListener, handlers: Rc<Handlers>) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(serve_connection(stream, handlers.clone())).detach();
            }
            Err(e) => {
                tracing::warn!(error = %e, "controller listener: accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve_connection(accepted: TcpStream, handlers: Rc<Handlers>) {
    let _ = accepted.set_nodelay(true);
    let peer = match accepted.peer_addr() {
        Ok(peer) => peer,
        Err(_) => return,
    };
    let Some((mut stream, principal)) = (handlers.admit)(accepted, peer).await else {
        return;
    };
    let Ok(writer) = duplicate(&stream) else {
        return;
    };
    let (replies, outgoing) = local_channel::new_unbounded::<Bytes>();
    let replies = Rc::new(replies);
    let writer_task = glommio::spawn_local(async move { write_frames(writer, &outgoing).await });
    let mut reader = FrameReader::new(MAX_FRAME);
    let memory = RequestMemory::new(None);
    loop {
        let received = match reader.next_frame(&mut stream, &memory).await {
            Ok(Some(received)) => received.bytes,
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "controller connection closed");
                break;
            }
        };
        let Some((&kind, _)) = received.split_first() else {
            break;
        };
        let allowed = {
            let principal = principal.borrow();
            let principal = principal
                .as_deref()
                .unwrap_or(crate::security::acl::ANONYMOUS);
            let allowed = (handlers.authorized)(principal, peer);
            if !allowed {
                tracing::warn!(%peer, principal, "controller listener: the principal lacks CLUSTER_ACTION on the cluster (a node's principal belongs in super.users); closing the connection");
            }
            allowed
        };
        if !allowed {
            break;
        }
        let body = received.slice(1..);
        match kind {
            RAFT => match Message::parse_from_bytes(&body) {
                Ok(message) => (handlers.raft)(message),
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "malformed quorum message; closing the connection");
                    break;
                }
            },
            CALL => {
                let Some((id, request)) = split_call(body) else {
                    tracing::warn!(%peer, "malformed controller call; closing the connection");
                    break;
                };
                let answer = (handlers.call)(request, peer);
                let replies = replies.clone();
                glommio::spawn_local(async move {
                    let response = answer.await.unwrap_or_default();
                    let _ = replies.try_send(frame(REPLY, Some(id), &response));
                })
                .detach();
            }
            FETCH => {
                let parsed = split_call(body).and_then(|(id, rest)| {
                    let after = u64::from_be_bytes(rest.get(..8)?.try_into().ok()?);
                    let wait = u32::from_be_bytes(rest.get(8..12)?.try_into().ok()?);
                    Some((id, after, Duration::from_millis(u64::from(wait))))
                });
                let Some((id, after, wait)) = parsed else {
                    tracing::warn!(%peer, "malformed metadata fetch; closing the connection");
                    break;
                };
                let answer = (handlers.fetch)(after, wait.min(MAX_FETCH_WAIT));
                let replies = replies.clone();
                glommio::spawn_local(async move {
                    let response = answer.await;
                    let _ = replies.try_send(frame(REPLY, Some(id), &response));
                })
                .detach();
            }
            other => {
                tracing::warn!(%peer, kind = other, "unknown controller frame; closing the connection");
                break;
            }
        }
    }
    drop(replies);
    let _ = writer_task.await;
}

/// Writes queued frames until the queue closes or the connection fails.
async fn write_frames(mut stream: TcpStream, frames: &LocalReceiver<Bytes>) {
    while let Some(frame) = frames.recv().await {
        if crate::net::send_all(&mut stream, vec![frame])
            .await
            .is_err()
        {
            return;
        }
    }
}

type PendingCalls = RefCell<HashMap<u64, LocalSender<Option<Bytes>>>>;

/// The outbound connection to one peer: frames queue here and a task writes them, connecting
/// (again) as needed.
pub struct PeerLink {
    pub id: u64,
    queue: LocalSender<Bytes>,
    pending: Rc<PendingCalls>,
    next_call: Cell<u64>,
}

impl PeerLink {
    pub fn start(id: u64, address: SocketAddr, dialer: Dialer) -> Rc<PeerLink> {
        let (queue, frames) = local_channel::new_bounded(PEER_QUEUE);
        let pending: Rc<PendingCalls> = Default::default();
        glommio::spawn_local(run_link(id, (address, dialer), frames, pending.clone())).detach();
        Rc::new(PeerLink {
            id,
            queue,
            pending,
            next_call: Cell::new(1),
        })
    }

    /// Queues a Raft message; `false` when it was dropped (the peer is down and its queue
    /// full, or the message cannot be encoded).
    pub fn send_raft(&self, message: &Message) -> bool {
        match message.write_to_bytes() {
            Ok(bytes) => self.queue.try_send(frame(RAFT, None, &bytes)).is_ok(),
            Err(_) => false,
        }
    }

    /// Sends a Kafka request to the peer and waits for its response (without size prefix).
    pub async fn call(&self, request: &[u8], timeout: Duration) -> Result<Bytes, CallError> {
        self.exchange(CALL, request, timeout).await
    }

    /// Asks the peer (a voter) for the committed metadata after index `after`, waiting there
    /// up to `max_wait` for some; returns the encoded answer (`observer`).
    pub async fn fetch_metadata(
        &self,
        after: u64,
        max_wait: Duration,
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let mut request = Vec::with_capacity(12);
        request.extend_from_slice(&after.to_be_bytes());
        let wait_ms = max_wait.as_millis().min(u128::from(u32::MAX)) as u32;
        request.extend_from_slice(&wait_ms.to_be_bytes());
        self.exchange(FETCH, &request, timeout).await
    }

    async fn exchange(
        &self,
        kind: u8,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Bytes, CallError> {
        let id = self.next_call.get();
        self.next_call.set(id + 1);
        let (reply, answer) = local_channel::new_bounded(1);
        self.pending.borrow_mut().insert(id, reply);
        if self.queue.try_send(frame(kind, Some(id), request)).is_err() {
            self.pending.borrow_mut().remove(&id);
            return Err(CallError::Unreachable(self.id));
        }
        let outcome = glommio::timer::timeout(timeout, async { Ok(answer.recv().await) }).await;
        self.pending.borrow_mut().remove(&id);
        match outcome {
            Ok(Some(Some(response))) if !response.is_empty() => Ok(response),
            Ok(Some(Some(_))) => Err(CallError::NotController(self.id)),
            Ok(Some(None)) | Ok(None) => Err(CallError::Unreachable(self.id)),
            Err(_) => Err(CallError::Timeout(self.id)),
        }
    }
}

async fn run_link(
    id: u64,
    (address, dialer): (SocketAddr, Dialer),
    frames: LocalReceiver<Bytes>,
    pending: Rc<PendingCalls>,
) {
    let mut logged_down = false;
    loop {
        let stream = match dialer.dial(address).await {
            Ok(stream) => stream,
            Err(e) => {
                if !logged_down {
                    match &e {
                        DialError::Refused(_) => {
                            tracing::warn!(peer = id, %address, error = %e, "quorum peer refused this node; retrying")
                        }
                        DialError::Unreachable(_) => {
                            tracing::info!(peer = id, %address, error = %e, "quorum peer not reachable yet; retrying")
                        }
                    }
                    logged_down = true;
                }
                fail_pending(&pending);
                glommio::timer::sleep(RECONNECT_BACKOFF).await;
                continue;
            }
        };
        if logged_down {
            tracing::info!(peer = id, %address, "quorum peer connected");
            logged_down = false;
        }
        let _ = stream.set_nodelay(true);
        let Ok(reader) = duplicate(&stream) else {
            continue;
        };
        let writing = write_frames(stream, &frames);
        let reading = read_replies(reader, &pending);
        futures_lite::future::or(writing, reading).await;
        fail_pending(&pending);
        glommio::timer::sleep(RECONNECT_BACKOFF).await;
    }
}

async fn read_replies(mut stream: TcpStream, pending: &PendingCalls) {
    let mut reader = FrameReader::new(MAX_FRAME);
    let memory = RequestMemory::new(None);
    while let Ok(Some(frame)) = reader.next_frame(&mut stream, &memory).await {
        let bytes = frame.bytes;
        if bytes.first() != Some(&REPLY) {
            return;
        }
        let Some((id, response)) = split_call(bytes.slice(1..)) else {
            return;
        };
        if let Some(reply) = pending.borrow_mut().remove(&id) {
            let _ = reply.try_send(Some(response));
        }
    }
}

fn fail_pending(pending: &PendingCalls) {
    for (_, reply) in pending.borrow_mut().drain() {
        let _ = reply.try_send(None);
    }
}
