//! Metadata records to and from bytes: the payload of a metadata log entry (one command's
//! records, applied together) and the broker registrations kept in a snapshot. A version byte,
//! then per record a type byte and its fields, big-endian, strings with a u16 length. Every
//! read is bounds-checked: bytes from the disk or a peer give records or an error.

use uuid::Uuid;

use super::model::{BrokerMeta, Endpoint, PartitionMeta};
use super::records::MetadataRecord;
use crate::security::acl::{AclBinding, AclOperation, PatternType, Permission, ResourceType};
use crate::security::quota::{EntityName, QuotaEntity, QuotaKind, QuotaValue};
use crate::security::scram::{ScramCredential, ScramMechanism};

const VERSION: u8 = 1;

const TOPIC: u8 = 1;
const PARTITION: u8 = 2;
const TOPIC_CONFIG: u8 = 3;
const REMOVE_TOPIC: u8 = 4;
const PRODUCER_IDS: u8 = 5;
/// A registration with one host and port, from before named listeners: read as a PLAINTEXT
/// endpoint, never written.
const REGISTER_BROKER_V0: u8 = 6;
const BROKER_STATE: u8 = 7;
const CLUSTER_ID: u8 = 8;
/// A registration with its named endpoints (Kafka's RegisterBrokerRecord).
const REGISTER_BROKER: u8 = 9;
const SCRAM_CREDENTIAL: u8 = 10;
const REMOVE_SCRAM_CREDENTIAL: u8 = 11;
const ACL: u8 = 12;
const REMOVE_ACL: u8 = 13;
const CLIENT_QUOTA: u8 = 14;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordDecodeError {
    #[error("metadata records end early")]
    Truncated,
    #[error("unknown metadata records version {0}")]
    Version(u8),
    #[error("unknown metadata record type {0}")]
    Type(u8),
    #[error("a string of the metadata records is not UTF-8")]
    Utf8,
    #[error("unknown SCRAM mechanism {0}")]
    ScramMechanism(u8),
    #[error("an ACL record has an unknown {0} code {1}")]
    AclCode(&'static str, i8),
    #[error("a client quota record has an unknown quota kind {0}")]
    QuotaKind(u8),
}

pub fn encode_records(records: &[MetadataRecord]) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(64 * records.len() + 1));
    w.u8(VERSION);
    for record in records {
        match record {
            MetadataRecord::Topic { name, id } => {
                w.u8(TOPIC);
                w.str(name);
                w.uuid(*id);
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                state,
            } => {
                w.u8(PARTITION);
                w.uuid(*topic_id);
                w.i32(*partition);
                w.i32(state.leader);
                w.ids(&state.replicas);
                w.ids(&state.isr);
                w.i32(state.leader_epoch);
                w.i32(state.partition_epoch);
            }
            MetadataRecord::TopicConfig {
                topic_id,
                key,
                value,
            } => {
                w.u8(TOPIC_CONFIG);
                w.uuid(*topic_id);
                w.str(key);
                w.opt_str(value.as_deref());
            }
            MetadataRecord::RemoveTopic { id } => {
                w.u8(REMOVE_TOPIC);
                w.uuid(*id);
            }
            MetadataRecord::ProducerIds { next_block_start } => {
                w.u8(PRODUCER_IDS);
                w.i64(*next_block_start);
            }
            MetadataRecord::RegisterBroker(b) => {
                w.u8(REGISTER_BROKER);
                w.i32(b.id);
                w.i64(b.epoch);
                w.uuid(b.incarnation);
                w.u8(u8::try_from(b.endpoints.len()).unwrap_or(u8::MAX));
                for e in b.endpoints.iter().take(usize::from(u8::MAX)) {
                    w.str(&e.name);
                    w.str(&e.host);
                    w.0.extend_from_slice(&e.port.to_be_bytes());
                    w.0.extend_from_slice(&e.protocol.to_be_bytes());
                }
                w.opt_str(b.rack.as_deref());
                w.u8(u8::from(b.fenced) | (u8::from(b.shutting_down) << 1));
            }
            MetadataRecord::BrokerState {
                id,
                epoch,
                fenced,
                shutting_down,
            } => {
                w.u8(BROKER_STATE);
                w.i32(*id);
                w.i64(*epoch);
                w.u8(u8::from(*fenced) | (u8::from(*shutting_down) << 1));
            }
            MetadataRecord::ClusterId(id) => {
                w.u8(CLUSTER_ID);
                w.str(id);
            }
            MetadataRecord::ScramCredential { user, credential } => {
                w.u8(SCRAM_CREDENTIAL);
                w.str(user);
                w.u8(credential.mechanism.id() as u8);
                w.bytes(&credential.salt);
                w.bytes(&credential.stored_key);
                w.bytes(&credential.server_key);
                w.i32(credential.iterations);
            }
            MetadataRecord::RemoveScramCredential { user, mechanism } => {
                w.u8(REMOVE_SCRAM_CREDENTIAL);
                w.str(user);
                w.u8(mechanism.id() as u8);
            }
            MetadataRecord::Acl(acl) => {
                w.u8(ACL);
                w.acl(acl);
            }
            MetadataRecord::RemoveAcl(acl) => {
                w.u8(REMOVE_ACL);
                w.acl(acl);
            }
            MetadataRecord::ClientQuota {
                entity,
                kind,
                value,
            } => {
                w.u8(CLIENT_QUOTA);
                w.entity_name(entity.user.as_ref());
                w.entity_name(entity.client_id.as_ref());
                w.u8(kind.code());
                match value {
                    Some(value) => {
                        w.u8(1);
                        w.0.extend_from_slice(&value.0.to_bits().to_be_bytes());
                    }
                    None => w.u8(0),
                }
            }
        }
    }
    w.0
}

pub fn decode_records(bytes: &[u8]) -> Result<Vec<MetadataRecord>, RecordDecodeError> {
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if version != VERSION {
        return Err(RecordDecodeError::Version(version));
    }
    let mut records = Vec::new();
    while !r.0.is_empty() {
        let record = match r.u8()? {
            TOPIC => MetadataRecord::Topic {
                name: r.str()?,
                id: r.uuid()?,
            },
            PARTITION => MetadataRecord::Partition {
                topic_id: r.uuid()?,
                partition: r.i32()?,
                state: PartitionMeta {
                    leader: r.i32()?,
                    replicas: r.ids()?,
                    isr: r.ids()?,
                    leader_epoch: r.i32()?,
                    partition_epoch: r.i32()?,
                },
            },
            TOPIC_CONFIG => MetadataRecord::TopicConfig {
                topic_id: r.uuid()?,
                key: r.str()?,
                value: r.opt_str()?,
            },
            REMOVE_TOPIC => MetadataRecord::RemoveTopic { id: r.uuid()? },
            PRODUCER_IDS => MetadataRecord::ProducerIds {
                next_block_start: r.i64()?,
            },
            kind @ (REGISTER_BROKER_V0 | REGISTER_BROKER) => {
                let id = r.i32()?;
                let epoch = r.i64()?;
                let incarnation = r.uuid()?;
                let endpoints = if kind == REGISTER_BROKER_V0 {
                    vec![Endpoint {
                        name: "PLAINTEXT".to_string(),
                        host: r.str()?,
                        port: u16::from_be_bytes(r.take()?),
                        protocol: 0,
                    }]
                } else {
                    let count = r.u8()?;
                    let mut endpoints = Vec::with_capacity(usize::from(count));
                    for _ in 0..count {
                        endpoints.push(Endpoint {
                            name: r.str()?,
                            host: r.str()?,
                            port: u16::from_be_bytes(r.take()?),
                            protocol: i16::from_be_bytes(r.take()?),
                        });
                    }
                    endpoints
                };
                let rack = r.opt_str()?;
                let flags = r.u8()?;
                MetadataRecord::RegisterBroker(BrokerMeta {
                    id,
                    epoch,
                    incarnation,
                    endpoints,
                    rack,
                    fenced: flags & 1 != 0,
                    shutting_down: flags & 2 != 0,
                })
            }
            BROKER_STATE => {
                let id = r.i32()?;
                let epoch = r.i64()?;
                let flags = r.u8()?;
                MetadataRecord::BrokerState {
                    id,
                    epoch,
                    fenced: flags & 1 != 0,
                    shutting_down: flags & 2 != 0,
                }
            }
            CLUSTER_ID => MetadataRecord::ClusterId(r.str()?),
            SCRAM_CREDENTIAL => MetadataRecord::ScramCredential {
                user: r.str()?,
                credential: {
                    let mechanism = r.scram_mechanism()?;
                    ScramCredential {
                        mechanism,
                        salt: r.bytes()?,
                        stored_key: r.bytes()?,
                        server_key: r.bytes()?,
                        iterations: r.i32()?,
                    }
                },
            },
            REMOVE_SCRAM_CREDENTIAL => MetadataRecord::RemoveScramCredential {
                user: r.str()?,
                mechanism: r.scram_mechanism()?,
            },
            ACL => MetadataRecord::Acl(r.acl()?),
            REMOVE_ACL => MetadataRecord::RemoveAcl(r.acl()?),
            CLIENT_QUOTA => MetadataRecord::ClientQuota {
                entity: QuotaEntity {
                    user: r.entity_name()?,
                    client_id: r.entity_name()?,
                },
                kind: {
                    let code = r.u8()?;
                    QuotaKind::from_code(code).ok_or(RecordDecodeError::QuotaKind(code))?
                },
                value: match r.u8()? {
                    0 => None,
                    _ => Some(QuotaValue(f64::from_bits(r.i64()? as u64))),
                },
            },
            other => return Err(RecordDecodeError::Type(other)),
        };
        records.push(record);
    }
    Ok(records)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn uuid(&mut self, v: Uuid) {
        self.0.extend_from_slice(v.as_bytes());
    }
    fn str(&mut self, v: &str) {
        // Names, hosts and config values are far below 64 KiB (topic names: 249 bytes).
        let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(&v.as_bytes()[..usize::from(len)]);
    }
    fn bytes(&mut self, v: &[u8]) {
        let len = u16::try_from(v.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(&v[..usize::from(len)]);
    }
    fn opt_str(&mut self, v: Option<&str>) {
        match v {
            Some(v) => {
                self.u8(1);
                self.str(v);
            }
            None => self.u8(0),
        }
    }
    fn acl(&mut self, acl: &AclBinding) {
        self.u8(acl.resource_type as u8);
        self.str(&acl.resource_name);
        self.u8(acl.pattern_type as u8);
        self.str(&acl.principal);
        self.str(&acl.host);
        self.u8(acl.operation as u8);
        self.u8(acl.permission as u8);
    }
    /// A quota entity's part: absent (0), the default (1) or a name (2).
    fn entity_name(&mut self, name: Option<&EntityName>) {
        match name {
            None => self.u8(0),
            Some(EntityName::Default) => self.u8(1),
            Some(EntityName::Named(name)) => {
                self.u8(2);
                self.str(name);
            }
        }
    }
    fn ids(&mut self, ids: &[i32]) {
        let len = u16::try_from(ids.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        for id in &ids[..usize::from(len)] {
            self.i32(*id);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], RecordDecodeError> {
        let (head, rest) = self
            .0
            .split_first_chunk::<N>()
            .ok_or(RecordDecodeError::Truncated)?;
        self.0 = rest;
        Ok(*head)
    }
    fn u8(&mut self) -> Result<u8, RecordDecodeError> {
        Ok(self.take::<1>()?[0])
    }
    fn i32(&mut self) -> Result<i32, RecordDecodeError> {
        Ok(i32::from_be_bytes(self.take()?))
    }
    fn i64(&mut self) -> Result<i64, RecordDecodeError> {
        Ok(i64::from_be_bytes(self.take()?))
    }
    fn uuid(&mut self) -> Result<Uuid, RecordDecodeError> {
        Ok(Uuid::from_bytes(self.take()?))
    }
    fn str(&mut self) -> Result<String, RecordDecodeError> {
        let len = usize::from(u16::from_be_bytes(self.take()?));
        if self.0.len() < len {
            return Err(RecordDecodeError::Truncated);
        }
        let (text, rest) = self.0.split_at(len);
        self.0 = rest;
        String::from_utf8(text.to_vec()).map_err(|_| RecordDecodeError::Utf8)
    }
    fn opt_str(&mut self) -> Result<Option<String>, RecordDecodeError> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.str().map(Some),
        }
    }
    fn acl(&mut self) -> Result<AclBinding, RecordDecodeError> {
        fn known<T>(
            kind: &'static str,
            code: u8,
            parse: fn(i8) -> Option<T>,
        ) -> Result<T, RecordDecodeError> {
            parse(code as i8).ok_or(RecordDecodeError::AclCode(kind, code as i8))
        }
        Ok(AclBinding {
            resource_type: known("resource type", self.u8()?, ResourceType::from_code)?,
            resource_name: self.str()?,
            pattern_type: known("pattern type", self.u8()?, PatternType::from_code)?,
            principal: self.str()?,
            host: self.str()?,
            operation: known("operation", self.u8()?, AclOperation::from_code)?,
            permission: known("permission", self.u8()?, Permission::from_code)?,
        })
    }
    fn entity_name(&mut self) -> Result<Option<EntityName>, RecordDecodeError> {
        Ok(match self.u8()? {
            0 => None,
            1 => Some(EntityName::Default),
            _ => Some(EntityName::Named(self.str()?)),
        })
    }
    fn ids(&mut self) -> Result<Vec<i32>, RecordDecodeError> {
        let len = usize::from(u16::from_be_bytes(self.take()?));
        // Bounded by the bytes present, so a bad count cannot reserve memory.
        if self.0.len() < 4 * len {
            return Err(RecordDecodeError::Truncated);
        }
        (0..len).map(|_| self.i32()).collect()
    }
    /// A u16 length, then the bytes (salts and keys: tens of bytes).
    fn bytes(&mut self) -> Result<Vec<u8>, RecordDecodeError> {
        let len = usize::from(u16::from_be_bytes(self.take()?));
        if self.0.len() < len {
            return Err(RecordDecodeError::Truncated);
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(bytes.to_vec())
    }
    fn scram_mechanism(&mut self) -> Result<ScramMechanism, RecordDecodeError> {
        let id = self.u8()?;
        ScramMechanism::from_id(id as i8).ok_or(RecordDecodeError::ScramMechanism(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_from_before_named_listeners_reads_as_plaintext() {
        let mut bytes = vec![VERSION, REGISTER_BROKER_V0];
        bytes.extend_from_slice(&3i32.to_be_bytes());
        bytes.extend_from_slice(&17i64.to_be_bytes());
        bytes.extend_from_slice(Uuid::from_u128(99).as_bytes());
        bytes.extend_from_slice(&10u16.to_be_bytes());
        bytes.extend_from_slice(b"127.0.0.13");
        bytes.extend_from_slice(&9092u16.to_be_bytes());
        bytes.push(0); // no rack
        bytes.push(1); // fenced
        let records = decode_records(&bytes).unwrap();
        let [MetadataRecord::RegisterBroker(broker)] = records.as_slice() else {
            panic!("{records:?}");
        };
        assert_eq!(
            broker.endpoints,
            vec![Endpoint::plaintext("127.0.0.13", 9092)]
        );
        assert!(broker.fenced);
    }

    #[test]
    fn every_record_type_round_trips_and_damage_is_an_error() {
        let id = Uuid::from_u128(7);
        let records = vec![
            MetadataRecord::ClusterId("abc".into()),
            MetadataRecord::Topic {
                name: "t".into(),
                id,
            },
            MetadataRecord::Partition {
                topic_id: id,
                partition: 0,
                state: PartitionMeta {
                    leader: 2,
                    replicas: vec![2, 3, 1],
                    isr: vec![2, 3],
                    leader_epoch: 4,
                    partition_epoch: 9,
                },
            },
            MetadataRecord::TopicConfig {
                topic_id: id,
                key: "retention.ms".into(),
                value: Some("1000".into()),
            },
            MetadataRecord::TopicConfig {
                topic_id: id,
                key: "segment.ms".into(),
                value: None,
            },
            MetadataRecord::ProducerIds {
                next_block_start: 5000,
            },
            MetadataRecord::RegisterBroker(BrokerMeta {
                id: 3,
                epoch: 17,
                incarnation: Uuid::from_u128(99),
                endpoints: vec![
                    Endpoint::plaintext("127.0.0.13", 9092),
                    Endpoint {
                        name: "EXTERNAL".into(),
                        host: "broker.example".into(),
                        port: 9093,
                        protocol: 3,
                    },
                ],
                rack: Some("r1".into()),
                fenced: true,
                shutting_down: false,
            }),
            MetadataRecord::BrokerState {
                id: 3,
                epoch: 17,
                fenced: false,
                shutting_down: true,
            },
            MetadataRecord::RemoveTopic { id },
            MetadataRecord::ScramCredential {
                user: "alice".into(),
                credential: ScramCredential::from_password(
                    ScramMechanism::Sha512,
                    "pw",
                    b"salt".to_vec(),
                    8192,
                ),
            },
            MetadataRecord::RemoveScramCredential {
                user: "bob".into(),
                mechanism: ScramMechanism::Sha256,
            },
            MetadataRecord::Acl(AclBinding {
                resource_type: ResourceType::Topic,
                resource_name: "orders-".into(),
                pattern_type: PatternType::Prefixed,
                principal: "User:alice".into(),
                host: "*".into(),
                operation: AclOperation::Write,
                permission: Permission::Allow,
            }),
            MetadataRecord::RemoveAcl(AclBinding {
                resource_type: ResourceType::Cluster,
                resource_name: "kafka-cluster".into(),
                pattern_type: PatternType::Literal,
                principal: "User:*".into(),
                host: "127.0.0.1".into(),
                operation: AclOperation::Alter,
                permission: Permission::Deny,
            }),
            MetadataRecord::ClientQuota {
                entity: QuotaEntity {
                    user: Some(EntityName::Named("alice".into())),
                    client_id: Some(EntityName::Default),
                },
                kind: QuotaKind::Fetch,
                value: Some(QuotaValue(1048576.0)),
            },
            MetadataRecord::ClientQuota {
                entity: QuotaEntity {
                    user: None,
                    client_id: Some(EntityName::Named("app".into())),
                },
                kind: QuotaKind::Produce,
                value: None,
            },
        ];
        let bytes = encode_records(&records);
        assert_eq!(decode_records(&bytes), Ok(records));
        for cut in 1..bytes.len() {
            // Every prefix is either a shorter list of whole records or an error, never a panic.
            let _ = decode_records(&bytes[..cut]);
        }
        assert_eq!(decode_records(&[9]), Err(RecordDecodeError::Version(9)));
        assert_eq!(decode_records(&[1, 200]), Err(RecordDecodeError::Type(200)));
    }
}
