//! A blocking Kafka client of one connection for the tools' requests librdkafka does not
//! offer (DescribeQuorum, ElectLeaders): Kafka's framing, the tool's timeout on every read and
//! write, and responses checked against their correlation id.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::client_security::Stream;
use super::{Connection, ToolError};

/// One blocking connection to the first bootstrap address that answers.
pub struct RawClient {
    /// TCP, or TLS over it (`--command-config`).
    stream: Box<dyn Stream>,
    correlation_id: i32,
}

impl RawClient {
    pub fn connect(connection: &Connection) -> Result<RawClient, ToolError> {
        Self::connect_to(&connection.bootstrap_server, connection)
    }

    /// One connection to the first of `servers` (host:port[,host:port...]) that answers, with
    /// `connection`'s timeout: a broker named by the cluster (a coordinator, each broker).
    pub fn connect_to(servers: &str, connection: &Connection) -> Result<RawClient, ToolError> {
        let unreachable = |reason: String| ToolError::Unreachable {
            bootstrap: servers.to_string(),
            timeout_ms: connection.request_timeout_ms,
            reason,
        };
        let mut last = String::from("no address");
        for server in servers.split(',') {
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
                        return Self::secured(stream, server.trim(), connection);
                    }
                    Err(e) => last = e.to_string(),
                }
            }
        }
        Err(unreachable(last))
    }

    /// The connection made secure as `--command-config` says: TLS, then the SASL login.
    fn secured(
        tcp: TcpStream,
        server: &str,
        connection: &Connection,
    ) -> Result<RawClient, ToolError> {
        let Some(security) = &connection.command_config else {
            return Ok(RawClient {
                stream: Box::new(tcp),
                correlation_id: 1,
            });
        };
        let host = server.rsplit_once(':').map_or(server, |(host, _)| host);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let mut client = RawClient {
            stream: security.secure(tcp, host)?,
            correlation_id: 1,
        };
        security.log_in(&mut client)?;
        Ok(client)
    }

    pub fn request<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        body: &Req,
    ) -> Result<Resp, ToolError> {
        let io = |source| ToolError::Io {
            what: "a request to the broker",
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
