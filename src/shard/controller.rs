//! The controller's shell: CreateTopics, DeleteTopics, CreatePartitions, AlterConfigs and
//! producer id allocation run here, on shard 0, one at a time. The decision is pure
//! (`metadata::controller::decide` turns a command into metadata records); this shell applies
//! the records, persists the result, and applies it on every shard before the client hears back,
//! so a topic a client was told about is open everywhere.

use std::cell::RefCell;
use std::rc::Rc;

use glommio::sync::Semaphore;

use super::ops::{ShardOp, ShardReply};
use super::Shard;
use crate::error_code::ErrorCode;
use crate::log::blocking;
use crate::metadata::controller::{decide, ControllerContext, Decision, TopicCommand};
use crate::metadata::records::{self, MetadataRecord};
use crate::metadata::{self, ClusterMeta};

pub use crate::metadata::controller::{
    ConfigChange, NewTopic, PartitionIncrease, Refusal, TopicOutcome,
};

/// Producer ids are reserved in blocks (as Kafka's controller does), so that InitProducerId
/// rarely waits for a metadata write.
const PRODUCER_ID_BLOCK: i64 = 1000;

pub enum ControllerOp {
    CreateTopics {
        topics: Vec<NewTopic>,
        validate_only: bool,
    },
    DeleteTopics {
        names: Vec<String>,
    },
    CreatePartitions {
        topics: Vec<PartitionIncrease>,
        validate_only: bool,
    },
    AllocateProducerId,
    AlterTopicConfigs {
        topic: String,
        change: ConfigChange,
        validate_only: bool,
    },
}

pub enum ControllerReply {
    Topics(Vec<TopicOutcome>),
    ProducerId(Result<i64, ErrorCode>),
    /// Sent to a shard that is not the controller (a routing bug, never expected).
    NotController,
}

pub struct Controller {
    /// The persisted metadata; its `next_producer_id` is the end of the reserved id block.
    meta: RefCell<ClusterMeta>,
    /// The next producer id to hand out (below the reserved block's end).
    next_producer_id: std::cell::Cell<i64>,
    /// One change at a time: validation sees the result of the previous change.
    serial: Semaphore,
}

impl Controller {
    pub fn new(meta: ClusterMeta) -> Self {
        let next_producer_id = meta.next_producer_id;
        Controller {
            meta: RefCell::new(meta),
            next_producer_id: std::cell::Cell::new(next_producer_id),
            serial: Semaphore::new(1),
        }
    }
}

impl Shard {
    pub(super) async fn controller_execute(self: &Rc<Self>, op: ControllerOp) -> ControllerReply {
        let Some(controller) = self.controller.as_ref() else {
            return ControllerReply::NotController;
        };
        let Ok(_turn) = controller.serial.acquire_permit(1).await else {
            return ControllerReply::NotController;
        };
        let (command, validate_only) = match op {
            ControllerOp::AllocateProducerId => {
                return ControllerReply::ProducerId(self.allocate_producer_id(controller).await)
            }
            ControllerOp::CreateTopics {
                topics,
                validate_only,
            } => (TopicCommand::CreateTopics(topics), validate_only),
            ControllerOp::DeleteTopics { names } => (TopicCommand::DeleteTopics(names), false),
            ControllerOp::CreatePartitions {
                topics,
                validate_only,
            } => (TopicCommand::CreatePartitions(topics), validate_only),
            ControllerOp::AlterTopicConfigs {
                topic,
                change,
                validate_only,
            } => (
                TopicCommand::AlterTopicConfigs { topic, change },
                validate_only,
            ),
        };
        let context = ControllerContext {
            broker_id: self.config.broker_id,
            num_partitions: self.config.num_partitions,
            default_replication_factor: self.config.default_replication_factor,
            delete_topic_enable: self.config.delete_topic_enable,
        };
        let decision = decide(&controller.meta.borrow(), &context, command);
        ControllerReply::Topics(
            self.commit_decision(controller, decision, validate_only)
                .await,
        )
    }

    async fn allocate_producer_id(
        self: &Rc<Self>,
        controller: &Controller,
    ) -> Result<i64, ErrorCode> {
        let id = controller.next_producer_id.get();
        if id >= controller.meta.borrow().next_producer_id {
            let record = MetadataRecord::ProducerIds {
                next_block_start: id + PRODUCER_ID_BLOCK,
            };
            let next = records::applied(&controller.meta.borrow(), &[record]).map_err(|e| {
                tracing::error!(error = %e, "producer id block not reserved");
                ErrorCode::UnknownServerError
            })?;
            self.persist(next.clone())
                .await
                .map_err(|_| ErrorCode::KafkaStorageError)?;
            *controller.meta.borrow_mut() = next;
        }
        controller.next_producer_id.set(id + 1);
        Ok(id)
    }

    /// Applies and commits the decision's records unless this is a dry run; if that fails,
    /// the accepted topics are answered with the error instead.
    async fn commit_decision(
        self: &Rc<Self>,
        controller: &Controller,
        decision: Decision,
        validate_only: bool,
    ) -> Vec<TopicOutcome> {
        let Decision {
            records,
            mut outcomes,
        } = decision;
        if validate_only || records.is_empty() {
            return outcomes;
        }
        let next = records::applied(&controller.meta.borrow(), &records);
        let committed = match next {
            Ok(next) => self.commit(controller, next).await,
            Err(e) => Err(Refusal {
                code: ErrorCode::UnknownServerError,
                message: format!("metadata records do not apply: {e}"),
            }),
        };
        if let Err(refusal) = committed {
            for outcome in outcomes.iter_mut().filter(|o| o.result.is_ok()) {
                outcome.result = Err(refusal.clone());
            }
        }
        outcomes
    }

    /// Persists `next`, makes it the controller's view and applies it on every shard.
    async fn commit(
        self: &Rc<Self>,
        controller: &Controller,
        next: ClusterMeta,
    ) -> Result<(), Refusal> {
        self.persist(next.clone())
            .await
            .map_err(|message| Refusal {
                code: ErrorCode::KafkaStorageError,
                message,
            })?;
        *controller.meta.borrow_mut() = next.clone();
        let applies: Vec<_> = (0..self.count)
            .map(|peer| {
                let shard = self.clone();
                let meta = Box::new(next.clone());
                glommio::spawn_local(
                    async move { shard.call(peer, ShardOp::ApplyMetadata(meta)).await },
                )
            })
            .collect();
        for apply in applies {
            match apply.await {
                Ok(ShardReply::MetadataApplied) => {}
                _ => tracing::error!("a shard did not apply the new metadata"),
            }
        }
        Ok(())
    }

    async fn persist(&self, meta: ClusterMeta) -> Result<(), String> {
        let dir = self.config.log_dir.clone();
        blocking(move || metadata::store(&dir, &meta))
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "metadata not persisted");
                e.to_string()
            })
    }
}
