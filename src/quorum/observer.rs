//! A broker-only node's metadata (`process.roles=broker`): KRaft's observer. It is not a voter
//! and takes no part in consensus; it fetches what the quorum has already committed and
//! applied, from a voter (the leader when known), and applies the same entries in the same
//! order, so every broker ends with the voters' metadata. A voter answers with entries after
//! the observer's applied index, or with its whole applied metadata (a snapshot) when those
//! entries have left its log. The long poll (the voter holds the fetch until something new is
//! applied, up to `FETCH_WAIT`) keeps propagation to a few milliseconds without busy polling.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::wire::{Dialer, PeerLink};
use super::{apply_entry, fatal, Publish, SnapshotFile};
use crate::metadata::{self, ClusterMeta, QuorumSnapshot, SnapshotView};

/// How long a voter holds a fetch when nothing new is applied.
const FETCH_WAIT: Duration = Duration::from_millis(500);
/// A fetch that takes longer than this (wait included) is given up and retried elsewhere.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);
const RETRY_BACKOFF: Duration = Duration::from_millis(100);
/// At most this many bytes of entries per answer.
pub(super) const MAX_ANSWER_BYTES: u64 = 1 << 20;

const ENTRIES: u8 = 1;
const SNAPSHOT: u8 = 2;

/// A voter's answer to a metadata fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchAnswer {
    /// Committed entries after the asked index, in order: (index, term, one command's records).
    Entries {
        leader: Option<(u64, SocketAddr)>,
        entries: Vec<(u64, u64, Bytes)>,
    },
    /// The voter's applied metadata in the metadata file's format (index and term included).
    Snapshot {
        leader: Option<(u64, SocketAddr)>,
        snapshot: Bytes,
    },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed metadata fetch answer: {0}")]
pub struct AnswerError(&'static str);

impl FetchAnswer {
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::new();
        let leader = match self {
            FetchAnswer::Entries { leader, .. } | FetchAnswer::Snapshot { leader, .. } => leader,
        };
        out.put_u8(match self {
            FetchAnswer::Entries { .. } => ENTRIES,
            FetchAnswer::Snapshot { .. } => SNAPSHOT,
        });
        out.put_i64(leader.map_or(-1, |(id, _)| id as i64));
        let address = leader.map(|(_, a)| a.to_string()).unwrap_or_default();
        out.put_u16(address.len() as u16);
        out.extend_from_slice(address.as_bytes());
        match self {
            FetchAnswer::Entries { entries, .. } => {
                out.put_u32(entries.len() as u32);
                for (index, term, data) in entries {
                    out.put_u64(*index);
                    out.put_u64(*term);
                    out.put_u32(data.len() as u32);
                    out.extend_from_slice(data);
                }
            }
            FetchAnswer::Snapshot { snapshot, .. } => out.extend_from_slice(snapshot),
        }
        out.freeze()
    }

    pub fn decode(mut bytes: Bytes) -> Result<FetchAnswer, AnswerError> {
        let need = |bytes: &Bytes, n: usize, what| match bytes.remaining() >= n {
            true => Ok(()),
            false => Err(AnswerError(what)),
        };
        need(&bytes, 11, "header")?;
        let kind = bytes.get_u8();
        let leader_id = bytes.get_i64();
        let address_len = bytes.get_u16() as usize;
        need(&bytes, address_len, "leader address")?;
        let address = bytes.split_to(address_len);
        let leader = match leader_id {
            -1 => None,
            id => {
                let text = std::str::from_utf8(&address).map_err(|_| AnswerError("address"))?;
                let address = text.parse().map_err(|_| AnswerError("address"))?;
                Some((id as u64, address))
            }
        };
        match kind {
            ENTRIES => {
                need(&bytes, 4, "entry count")?;
                let count = bytes.get_u32() as usize;
                // Each entry takes at least 20 bytes: a count beyond that is a lie.
                need(&bytes, count.saturating_mul(20), "entries")?;
                let mut entries = Vec::with_capacity(count);
                for _ in 0..count {
                    need(&bytes, 20, "entry header")?;
                    let (index, term) = (bytes.get_u64(), bytes.get_u64());
                    let len = bytes.get_u32() as usize;
                    need(&bytes, len, "entry data")?;
                    entries.push((index, term, bytes.split_to(len)));
                }
                Ok(FetchAnswer::Entries { leader, entries })
            }
            SNAPSHOT => Ok(FetchAnswer::Snapshot {
                leader,
                snapshot: bytes,
            }),
            _ => Err(AnswerError("kind")),
        }
    }
}

/// This broker-only node's view of the cluster metadata, kept up with the quorum.
pub struct Observer {
    /// Where the controllers are (`controller.quorum.voters`, else
    /// `controller.quorum.bootstrap.servers`).
    controllers: Vec<SocketAddr>,
    /// How this node reaches them (TLS, login).
    dialer: Dialer,
    links: RefCell<HashMap<SocketAddr, Rc<PeerLink>>>,
    /// The quorum leader as the last answer named it.
    leader: Cell<Option<(u64, SocketAddr)>>,
    meta: RefCell<Rc<ClusterMeta>>,
    index: Cell<u64>,
    term: Cell<u64>,
    file: SnapshotFile,
    /// The cluster this data dir belongs to ("" on a first start).
    cluster_id: String,
    log_dir: PathBuf,
}

impl Observer {
    pub fn open(
        log_dir: PathBuf,
        (controllers, dialer): (Vec<SocketAddr>, Dialer),
        snapshot: QuorumSnapshot,
    ) -> Self {
        Observer {
            controllers,
            dialer,
            links: Default::default(),
            leader: Cell::new(None),
            cluster_id: snapshot.meta.cluster_id.clone(),
            meta: RefCell::new(Rc::new(snapshot.meta)),
            index: Cell::new(snapshot.index),
            term: Cell::new(snapshot.term),
            file: SnapshotFile::new(log_dir.clone()),
            log_dir,
        }
    }

    pub fn meta(&self) -> Rc<ClusterMeta> {
        self.meta.borrow().clone()
    }

    pub fn applied_index(&self) -> u64 {
        self.index.get()
    }

    pub fn leader(&self) -> Option<u64> {
        self.leader.get().map(|(id, _)| id)
    }

    pub fn data_dir_cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The link to node `id` when it is the quorum leader this node knows of.
    pub fn peer(&self, id: u64) -> Option<Rc<PeerLink>> {
        let (leader, address) = self.leader.get()?;
        (leader == id).then(|| self.link(id, address))
    }

    fn link(&self, id: u64, address: SocketAddr) -> Rc<PeerLink> {
        self.links
            .borrow_mut()
            .entry(address)
            .or_insert_with(|| PeerLink::start(id, address, self.dialer.clone()))
            .clone()
    }

    /// Fetches and applies the committed metadata until the process stops; `publish` gets the
    /// metadata after each change.
    pub async fn run(self: Rc<Self>, publish: Publish) {
        let mut next = 0usize;
        loop {
            // The leader when known (its metadata is the freshest), else the next controller.
            let (id, address) = match self.leader.get() {
                Some(leader) => leader,
                None if self.controllers.is_empty() => return,
                None => {
                    next = (next + 1) % self.controllers.len();
                    (u64::MAX, self.controllers[next])
                }
            };
            let link = self.link(id, address);
            let answer = link
                .fetch_metadata(self.index.get(), FETCH_WAIT, FETCH_TIMEOUT)
                .await
                .map_err(|e| e.to_string())
                .and_then(|bytes| FetchAnswer::decode(bytes).map_err(|e| e.to_string()));
            match answer {
                Ok(answer) => self.take(answer, &publish).await,
                Err(e) => {
                    tracing::debug!(%address, error = %e, "metadata fetch failed; trying another controller");
                    self.leader.set(None);
                    glommio::timer::sleep(RETRY_BACKOFF).await;
                }
            }
        }
    }

    async fn take(&self, answer: FetchAnswer, publish: &Publish) {
        let (leader, meta) = match answer {
            FetchAnswer::Snapshot { leader, snapshot } => {
                let decoded = match metadata::decode_snapshot(&snapshot) {
                    Ok(decoded) => decoded,
                    Err(e) => {
                        tracing::warn!(error = %e, "a controller sent a damaged metadata snapshot; asking again");
                        glommio::timer::sleep(RETRY_BACKOFF).await;
                        return;
                    }
                };
                tracing::info!(
                    index = decoded.index,
                    "metadata snapshot taken from the controllers"
                );
                self.index.set(decoded.index);
                self.term.set(decoded.term);
                (leader, Some(decoded.meta))
            }
            FetchAnswer::Entries { leader, entries } => {
                let mut meta: Option<ClusterMeta> = None;
                for (index, term, data) in entries {
                    if index != self.index.get() + 1 {
                        // Not what was asked for (a voter that lost its log): ask again.
                        break;
                    }
                    if !data.is_empty() {
                        let current = meta.take().unwrap_or_else(|| (*self.meta()).clone());
                        meta = Some(match apply_entry(&current, &data) {
                            Ok(next) => next,
                            Err(e) => {
                                // Every member skips the same entry the same way.
                                tracing::error!(index, error = %e, "metadata log entry not applied");
                                current
                            }
                        });
                    }
                    self.index.set(index);
                    self.term.set(term);
                }
                (leader, meta)
            }
        };
        self.leader.set(leader);
        let Some(meta) = meta else {
            return;
        };
        if !self.cluster_id.is_empty()
            && !meta.cluster_id.is_empty()
            && meta.cluster_id != self.cluster_id
        {
            fatal(&format!(
                "this data dir ({}) belongs to cluster {}, but the controllers are cluster {}; refusing to join (use an empty data dir to join that cluster)",
                self.log_dir.display(),
                self.cluster_id,
                meta.cluster_id
            ));
        }
        let meta = Rc::new(meta);
        *self.meta.borrow_mut() = meta.clone();
        let encoded = metadata::encode_view(SnapshotView {
            meta: &meta,
            index: self.index.get(),
            term: self.term.get(),
            voters: &[],
        });
        self.file.store(encoded).await;
        publish(meta).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_round_trip_and_damage_is_an_error() {
        let leader = Some((2, "127.0.0.1:9101".parse().unwrap()));
        let answers = [
            FetchAnswer::Entries {
                leader,
                entries: vec![(7, 2, Bytes::from_static(b"abc")), (8, 2, Bytes::new())],
            },
            FetchAnswer::Entries {
                leader: None,
                entries: Vec::new(),
            },
            FetchAnswer::Snapshot {
                leader,
                snapshot: Bytes::from_static(b"snapshot bytes"),
            },
        ];
        for answer in answers {
            let encoded = answer.encode();
            assert_eq!(FetchAnswer::decode(encoded.clone()), Ok(answer.clone()));
            if matches!(answer, FetchAnswer::Entries { .. }) {
                for cut in 0..encoded.len() {
                    assert!(FetchAnswer::decode(encoded.slice(..cut)).is_err(), "{cut}");
                }
            }
        }
        let mut lying = BytesMut::new();
        lying.put_u8(ENTRIES);
        lying.put_i64(-1);
        lying.put_u16(0);
        lying.put_u32(u32::MAX);
        assert!(FetchAnswer::decode(lying.freeze()).is_err());
    }
}
