//! The shard mesh: request/response messages between shards over glommio's lock-free
//! single-producer channels (one per ordered pair of shards). A shard asks another to act on a
//! partition it owns and awaits the answer; nothing is shared but the messages.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use glommio::channels::channel_mesh::{Receivers, Senders};
use glommio::channels::local_channel::{self, LocalSender};

use super::ops::{ShardOp, ShardReply};

pub enum MeshMessage {
    Request { id: u64, op: ShardOp },
    Response { id: u64, reply: ShardReply },
}

/// This shard's end of the mesh: senders to every peer and the requests awaiting answers.
pub struct Mesh {
    senders: Senders<MeshMessage>,
    pending: RefCell<HashMap<u64, LocalSender<ShardReply>>>,
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

    /// Sends `op` to shard `peer` and waits for its answer.
    pub async fn request(&self, peer: usize, op: ShardOp) -> Result<ShardReply, MeshClosed> {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        let (tx, rx) = local_channel::new_bounded(1);
        self.pending.borrow_mut().insert(id, tx);
        if self
            .senders
            .send_to(peer, MeshMessage::Request { id, op })
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

    async fn respond(&self, peer: usize, id: u64, reply: ShardReply) {
        if self
            .senders
            .send_to(peer, MeshMessage::Response { id, reply })
            .await
            .is_err()
        {
            tracing::debug!(peer, "mesh closed before a response could be sent");
        }
    }

    fn deliver(&self, id: u64, reply: ShardReply) {
        if let Some(tx) = self.pending.borrow_mut().remove(&id) {
            // The requester may have gone away (dropped future); its answer is not needed.
            let _ = tx.try_send(reply);
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
                    MeshMessage::Request { id, op } => {
                        let mesh = mesh.clone();
                        let work = handler(op);
                        glommio::spawn_local(async move {
                            let reply = work.await;
                            mesh.respond(peer, id, reply).await;
                        })
                        .detach();
                    }
                    MeshMessage::Response { id, reply } => mesh.deliver(id, reply),
                }
            }
        })
        .detach();
    }
}
