//! `weir cluster describe`: the brokers (id, address, rack), the active controller, and the
//! metadata quorum (leader, epoch, high watermark, each voter's lag), as Kafka's
//! `kafka-cluster.sh` and `kafka-metadata-quorum.sh describe --status --replication` show them.
//! librdkafka has no DescribeQuorum, so this speaks the two requests (Metadata v12,
//! DescribeQuorum v1) itself over one connection.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use bytes::{Bytes, BytesMut};
use clap::Subcommand;
use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::{
    ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, MetadataRequest, MetadataResponse,
    RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use serde_json::json;

use super::{table, Connection, Output, ToolError};

#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Brokers, the active controller and the metadata quorum's state.
    ///
    /// Example: weir cluster describe --bootstrap-server 127.0.0.1:9092
    Describe {
        #[command(flatten)]
        connection: Connection,
    },
}

pub fn run(command: ClusterCommand) -> Result<(), ToolError> {
    match command {
        ClusterCommand::Describe { connection } => describe(&connection),
    }
}

fn describe(connection: &Connection) -> Result<(), ToolError> {
    let mut client = RawClient::connect(connection)?;
    let metadata: MetadataResponse = client.request(
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(Vec::new())),
    )?;
    let quorum: DescribeQuorumResponse = client.request(
        ApiKey::DescribeQuorum,
        1,
        &DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![PartitionData::default().with_partition_index(0)])]),
    )?;
    let controller = metadata.controller_id.0;
    let partition = quorum
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .filter(|_| quorum.error_code == 0)
        .ok_or_else(|| {
            ToolError::Usage(format!(
                "DescribeQuorum answered error {} (is the broker a Weir or KRaft node?)",
                quorum.error_code
            ))
        })?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let ago = |ts: i64| (ts >= 0).then(|| (now_ms - ts).max(0));
    match connection.output {
        Output::Table => {
            println!(
                "ClusterId: {}\tController: {controller}",
                metadata.cluster_id.as_deref().unwrap_or("")
            );
            let brokers: Vec<Vec<String>> = metadata
                .brokers
                .iter()
                .map(|b| {
                    vec![
                        b.node_id.0.to_string(),
                        format!("{}:{}", b.host.as_str(), b.port),
                        b.rack.as_deref().unwrap_or("-").to_string(),
                        if b.node_id.0 == controller { "yes" } else { "" }.to_string(),
                    ]
                })
                .collect();
            table::print(&["BROKER", "ADDRESS", "RACK", "CONTROLLER"], &brokers);
            println!(
                "\nQuorum: leader {}\tepoch {}\thigh watermark {}",
                partition.leader_id.0, partition.leader_epoch, partition.high_watermark
            );
            let voters: Vec<Vec<String>> = partition
                .current_voters
                .iter()
                .map(|v| {
                    vec![
                        v.replica_id.0.to_string(),
                        v.log_end_offset.to_string(),
                        (partition.high_watermark - v.log_end_offset)
                            .max(0)
                            .to_string(),
                        ago(v.last_fetch_timestamp)
                            .map_or("-".to_string(), |ms| format!("{ms} ms ago")),
                    ]
                })
                .collect();
            table::print(&["VOTER", "LOG END", "LAG", "LAST HEARD"], &voters);
        }
        Output::Json => {
            let brokers: Vec<_> = metadata
                .brokers
                .iter()
                .map(|b| {
                    json!({
                        "id": b.node_id.0,
                        "host": b.host.as_str(),
                        "port": b.port,
                        "rack": b.rack.as_deref(),
                    })
                })
                .collect();
            let voters: Vec<_> = partition
                .current_voters
                .iter()
                .map(|v| {
                    json!({
                        "id": v.replica_id.0,
                        "log_end": v.log_end_offset,
                        "lag": (partition.high_watermark - v.log_end_offset).max(0),
                        "last_heard_ms_ago": ago(v.last_fetch_timestamp),
                    })
                })
                .collect();
            println!(
                "{}",
                json!({
                    "cluster_id": metadata.cluster_id.as_deref(),
                    "controller": controller,
                    "brokers": brokers,
                    "quorum": {
                        "leader": partition.leader_id.0,
                        "epoch": partition.leader_epoch,
                        "high_watermark": partition.high_watermark,
                        "voters": voters,
                    },
                })
            );
        }
    }
    Ok(())
}

/// One blocking connection to the first bootstrap address that answers.
struct RawClient {
    stream: TcpStream,
    correlation_id: i32,
}

impl RawClient {
    fn connect(connection: &Connection) -> Result<RawClient, ToolError> {
        let unreachable = |reason: String| ToolError::Unreachable {
            bootstrap: connection.bootstrap_server.clone(),
            timeout_ms: connection.request_timeout_ms,
            reason,
        };
        let mut last = String::from("no address");
        for server in connection.bootstrap_server.split(',') {
            let addresses = match server.trim().to_socket_addrs() {
                Ok(addresses) => addresses,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            for address in addresses {
                match TcpStream::connect_timeout(&address, connection.timeout()) {
                    Ok(stream) => {
                        let timeout = Some(connection.timeout());
                        let set = stream
                            .set_read_timeout(timeout)
                            .and_then(|()| stream.set_write_timeout(timeout));
                        set.map_err(|e| unreachable(e.to_string()))?;
                        return Ok(RawClient {
                            stream,
                            correlation_id: 1,
                        });
                    }
                    Err(e) => last = e.to_string(),
                }
            }
        }
        Err(unreachable(last))
    }

    fn request<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<Resp, ToolError> {
        let io = |source| ToolError::Io {
            what: "cluster describe",
            source,
        };
        let malformed = |what: &str| {
            ToolError::Usage(format!(
                "malformed {api:?} v{version} {what} from the broker"
            ))
        };
        let correlation_id = self.correlation_id;
        self.correlation_id += 1;
        let mut buf = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str("weir-tools")))
            .encode(&mut buf, api.request_header_version(version))
            .map_err(|_| malformed("request"))?;
        body.encode(&mut buf, version)
            .map_err(|_| malformed("request"))?;
        let mut frame = (buf.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&buf);
        self.stream.write_all(&frame).map_err(io)?;
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).map_err(io)?;
        let size = i32::from_be_bytes(size);
        if !(0..=64 << 20).contains(&size) {
            return Err(malformed("response size"));
        }
        let mut body = vec![0u8; size as usize];
        self.stream.read_exact(&mut body).map_err(io)?;
        let mut body = Bytes::from(body);
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version))
            .map_err(|_| malformed("response header"))?;
        if header.correlation_id != correlation_id {
            return Err(malformed("response (correlation id)"));
        }
        Resp::decode(&mut body, version).map_err(|_| malformed("response"))
    }
}
