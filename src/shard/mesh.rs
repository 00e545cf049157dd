//! The shard mesh: request/response messages between shards over glommio's lock-free
//! single-producer channels (one per ordered pair of shards). A shard asks another to act on a
//! partition it owns and awaits the answer; nothing is shared but the messages.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use glommio::channels::channel_mesh::{Receivers, Senders};
use glommio::channels::local_channel::{self, LocalSender};

use super::ops::{ShardOp, ShardReply};
use super::request_time::{self, RequestClock};

pub enum MeshMessage {
    /// `timed`: the op works for a request under a `request_percentage` quota; its answer
    /// carries the time it took.
    Request { id: u64, op: ShardOp, timed: bool },
    Response {
        id: u64,
        reply: ShardReply,
        spent: Option<Duration>,
    },
}

/// A request awaiting its answer, and the clock of the client request it works for.
struct Pending {
    answer: LocalSender<ShardReply>,
    clock: Option<Rc<RequestClock>>,
}

/// This shard's end of the mesh: senders to every peer and the requests awaiting answers.
pub struct Mesh {
    senders: Senders<MeshMessage>,
    pending: RefCell<HashMap<u64, Pending>>,
    next_id: Cell<u64>,
}

#[derive(Debug, thiserror::Error)]
#[error("shard {peer} is not answering (shutting down)")]
pub struct MeshClosed {
    pub peer: usize,
}

impl Mesh {
    pub fn new(senders: Senders<MeshMessage>) -> Self {
        Mesh {
            senders,
            pending: RefCell::new(HashMap::new()),
            next_id: Cell::new(1),
        }
    }

    /// Sends `op` to shard `peer` and waits for its answer. Asked while a timed request is
    /// polled, the time `peer` spends on `op` is added to that request's clock.
    pub async fn request(&self, peer: usize, op: ShardOp) -> Result<ShardReply, MeshClosed> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (answer, rx) = local_channel::new_bounded(1);
        let clock = request_time::polling();
        let timed = clock.is_some();
        self.pending
            .borrow_mut()
            .insert(id, Pending { answer, clock });
        if self
            .senders
            .send_to(peer, MeshMessage::Request { id, op, timed })
            .await
            .is_err()
        {
            self.pending.borrow_mut().remove(&id);
            return Err(MeshClosed { peer });
        }
        // If this future is dropped (a long poll that finished early), the entry is removed when
        // the answer arrives: every request is answered.
        rx.recv().await.ok_or(MeshClosed { peer })
    }

    async fn respond(&self, peer: usize, id: u64, reply: ShardReply, spent: Option<Duration>) {
        if self
            .senders
            .send_to(peer, MeshMessage::Response { id, reply, spent })
            .await
            .is_err()
        {
            tracing::debug!(peer, "mesh closed before a response could be sent");
        }
    }

    fn deliver(&self, id: u64, reply: ShardReply, spent: Option<Duration>) {
        if let Some(pending) = self.pending.borrow_mut().remove(&id) {
            if let (Some(clock), Some(spent)) = (&pending.clock, spent) {
                clock.add(spent);
            }
            // The requester may have gone away (dropped future); its answer is not needed.
            let _ = pending.answer.try_send(reply);
        }
    }

    pub fn close(&self) {
        self.senders.close();
    }
}

/// Serves the mesh for one shard: requests from peers run as local tasks (so one slow request
/// never holds up the channel) and answers go back to the peer; responses wake local waiters.
pub fn spawn_receivers<H, F>(mesh: Rc<Mesh>, mut receivers: Receivers<MeshMessage>, handler: H)
where
    H: Fn(ShardOp) -> F + Clone + 'static,
    F: std::future::Future<Output = ShardReply> + 'static,
{
    for (peer, receiver) in receivers.streams() {
        let mesh = mesh.clone();
        let handler = handler.clone();
        glommio::spawn_local(async move {
            while let Some(message) = receiver.recv().await {
                match message {
                    MeshMessage::Request { id, op, timed } => {
                        let mesh = mesh.clone();
                        let served = handler(op);
                        // The reply goes to another shard's thread; making it fit to (a copy
                        // of a read's bytes) is part of the request's time.
                        let work = async move {
                            let mut reply = served.await;
                            reply.unbind_from_shard();
                            reply
                        };
                        glommio::spawn_local(async move {
                            let (reply, spent) = match timed {
                                true => {
                                    let (reply, spent) = request_time::measured(work).await;
                                    (reply, Some(spent))
                                }
                                false => (work.await, None),
                            };
                            mesh.respond(peer, id, reply, spent).await;
                        })
                        .detach();
                    }
                    MeshMessage::Response { id, reply, spent } => mesh.deliver(id, reply, spent),
                }
            }
        })
        .detach();
    }
}
