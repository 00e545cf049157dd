//! A raw Kafka protocol client over a blocking socket: requests encoded with the kafka-protocol
//! crate (or raw bytes, for bad input), responses decoded with it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, BrokerId, FetchRequest, ProduceRequest, RequestHeader, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, Request, StrBytes};

pub struct Wire {
    stream: TcpStream,
    next_correlation_id: i32,
    client_id: &'static str,
}

impl Wire {
    pub fn connect(bootstrap: &str) -> Wire {
        let stream = TcpStream::connect(bootstrap).expect("connect to broker");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("set read timeout");
        Wire {
            stream,
            next_correlation_id: 1,
            client_id: "weir-wire-test",
        }
    }

    /// The client id of this connection's requests ("weir-wire-test" unless given).
    pub fn with_client_id(self, client_id: &'static str) -> Wire {
        Wire { client_id, ..self }
    }

    /// Connects within `timeout` and waits at most `timeout` for each response; `None` when
    /// the node cannot be reached (under faults that is an answer, not a failure).
    pub fn try_connect(address: &str, timeout: Duration) -> Option<Wire> {
        let stream = TcpStream::connect_timeout(&address.parse().ok()?, timeout).ok()?;
        stream.set_read_timeout(Some(timeout)).ok()?;
        stream.set_write_timeout(Some(timeout)).ok()?;
        Some(Wire {
            stream,
            next_correlation_id: 1,
            client_id: "weir-wire-test",
        })
    }

    /// Sends `request` and decodes its response; `None` when the connection fails or the
    /// response does not come in time.
    pub fn try_request<R: Request>(&mut self, version: i16, request: &R) -> Option<R::Response> {
        let frame = self.frame(version, request);
        self.stream.write_all(&frame).ok()?;
        let mut body = self.read_frame()?;
        let api = ApiKey::try_from(R::KEY).ok()?;
        let header =
            ResponseHeader::decode(&mut body, api.response_header_version(version)).ok()?;
        assert_eq!(header.correlation_id, self.next_correlation_id - 1);
        Some(R::Response::decode(&mut body, version).expect("decode response"))
    }

    /// Encodes a request frame (size prefix included).
    pub fn frame<R: Request>(&mut self, version: i16, request: &R) -> Vec<u8> {
        let api = ApiKey::try_from(R::KEY).expect("known api");
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut body = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(StrBytes::from_static_str(self.client_id)))
            .encode(&mut body, api.request_header_version(version))
            .expect("encode header");
        request.encode(&mut body, version).expect("encode request");
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        frame
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to broker");
    }

    /// Sends `request` and decodes its response.
    pub fn request<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let frame = self.frame(version, request);
        self.send_raw(&frame);
        self.read_response::<R>(version, self.next_correlation_id - 1)
    }

    /// Reads the next response frame, which must answer request `correlation_id`.
    pub fn read_response<R: Request>(&mut self, version: i16, correlation_id: i32) -> R::Response {
        let mut body = self.read_frame().expect("response frame");
        let api = ApiKey::try_from(R::KEY).expect("known api");
        let header = ResponseHeader::decode(&mut body, api.response_header_version(version))
            .expect("response header");
        assert_eq!(header.correlation_id, correlation_id);
        let response = R::Response::decode(&mut body, version).expect("decode response");
        assert!(
            body.is_empty(),
            "{} trailing bytes in the response",
            body.len()
        );
        response
    }

    /// A second handle on the connection, for a thread that writes while this one reads.
    pub fn writer(&self) -> TcpStream {
        self.stream.try_clone().expect("clone the connection")
    }

    /// The correlation id the next `frame` gets.
    pub fn next_correlation_id(&self) -> i32 {
        self.next_correlation_id
    }

    /// SaslHandshake v1 and SaslAuthenticate v2 with PLAIN: (error code, session lifetime).
    #[allow(dead_code)] // not every test binary that includes `support` logs in
    pub fn plain_login(wire: &mut Wire, user: &str, password: &str) -> (i16, i64) {
        use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
        let handshake = wire.request(
            1,
            &SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str("PLAIN")),
        );
        assert_eq!(handshake.error_code, 0);
        let token = format!("\0{user}\0{password}");
        let response = wire.request(
            2,
            &SaslAuthenticateRequest::default().with_auth_bytes(token.into_bytes().into()),
        );
        (response.error_code, response.session_lifetime_ms)
    }

    /// The next response frame (without its size), or `None` if the broker closed the
    /// connection.
    pub fn read_frame(&mut self) -> Option<Bytes> {
        let mut size = [0u8; 4];
        if self.stream.read_exact(&mut size).is_err() {
            return None;
        }
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut body).ok()?;
        Some(Bytes::from(body))
    }

    /// True when the broker closes the connection within 10 s (EOF or reset), false if it
    /// stays open or sends anything.
    pub fn is_closed(&mut self) -> bool {
        use std::io::ErrorKind;
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("set read timeout");
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(_) => true,
        }
    }
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

/// A Produce request with one partition's records.
pub fn produce_request(topic: &str, partition: i32, records: Bytes, acks: i16) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name(topic))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(partition)
                .with_records(Some(records))])])
}

/// A sessionless Fetch of one partition from `offset`, answered at once (max_wait 0).
pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_bytes: i32) -> FetchRequest {
    FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(max_bytes)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name(topic))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(max_bytes)])])
}

/// A sessionless Fetch v12 of one partition from `offset`: (error code, log start offset,
/// record bytes).
pub fn fetch_partition(
    wire: &mut Wire,
    topic: &str,
    partition: i32,
    offset: i64,
    max_bytes: i32,
) -> (i16, i64, Bytes) {
    let response = wire.request(12, &fetch_request(topic, partition, offset, max_bytes));
    let p = &response.responses[0].partitions[0];
    (
        p.error_code,
        p.log_start_offset,
        p.records.clone().unwrap_or_default(),
    )
}

/// The codecs of the batches stored in partition 0 of `topic`.
pub fn stored_codecs(
    wire: &mut Wire,
    topic: &str,
) -> std::collections::HashSet<weir::record::Compression> {
    let (_, _, records) = fetch_partition(wire, topic, 0, 0, 16 << 20);
    weir::record::split_batches(records)
        .map(|b| {
            b.expect("whole batch")
                .attributes()
                .compression()
                .expect("known codec")
        })
        .collect()
}

/// Produces one record (key "k", `value`) to partition 0 of `topic` at the broker at
/// `address` (host:port) with `acks`: (error code, base offset).
pub fn produce_value(address: &str, topic: &str, value: &str, acks: i16) -> (i16, i64) {
    use weir::record::{BatchBuilder, NewRecord};
    let mut builder = BatchBuilder::new();
    builder.push(NewRecord {
        key: Some(b"k"),
        value: Some(value.as_bytes()),
        timestamp_ms: 1_700_000_000_000,
    });
    let mut wire = Wire::connect(address);
    let response = wire.request(9, &produce_request(topic, 0, builder.build(), acks));
    let p = &response.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}
