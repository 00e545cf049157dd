//! One follower's connection to a leader's client listener: Fetch v12 requests written and
//! their responses read in turn (one read at a time on the socket). A fetch that takes longer
//! than the leader's long poll plus `FETCH_TIMEOUT` drops the connection (a paused or cut-off
//! leader), and the next round connects again.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use glommio::net::TcpStream;
use kafka_protocol::messages::{
    ApiKey, FetchRequest, FetchResponse, RequestHeader, ResponseHeader, SaslAuthenticateRequest,
    SaslAuthenticateResponse, SaslHandshakeRequest, SaslHandshakeResponse,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::config::{BrokerConfig, InterBrokerLogin};
use crate::net::{send_all, FrameReader, RequestMemory};
use crate::security::sasl::SaslMechanism;
use crate::security::scram::ScramClient;

const FETCH_VERSION: i16 = 12;
/// On top of the long poll: how long a leader may take to answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a SASL login round may take.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(5);
/// A response larger than this is refused (the request asks for at most 10 MiB).
const MAX_RESPONSE: usize = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("connecting to {address}: {source}")]
    Connect {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(String),
    #[error("the leader did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the leader closed the connection")]
    Closed,
    #[error("malformed Fetch response: {0}")]
    Malformed(String),
    #[error("the inter-broker SASL login was refused: {0}")]
    Login(String),
}

/// How a connection is secured: over TLS with `tls` (checking `host` in the certificate), and
/// logged in with `login`.
#[derive(Debug, Clone, Copy)]
pub struct Secured<'a> {
    pub host: &'a str,
    pub tls: Option<&'a std::sync::Arc<rustls::ClientConfig>>,
    pub login: Option<&'a InterBrokerLogin>,
}

pub struct LeaderConnection {
    stream: TcpStream,
    reader: FrameReader,
    memory: RequestMemory,
    client_id: StrBytes,
    correlation_id: i32,
}

impl LeaderConnection {
    pub async fn connect(
        endpoint: &(String, u16),
        me: i32,
        config: &BrokerConfig,
    ) -> Result<Self, FetchError> {
        Self::connect_as(endpoint, format!("weir-replica-fetcher-{me}"), config).await
    }

    /// A connection to another broker's inter-broker listener under `client_id` (the replica
    /// fetcher's, the transaction coordinator's marker writer): over TLS when that listener is
    /// SSL or SASL_SSL, logged in when it is SASL, as `config` says.
    pub async fn connect_as(
        endpoint: &(String, u16),
        client_id: String,
        config: &BrokerConfig,
    ) -> Result<Self, FetchError> {
        let text = format!("{}:{}", endpoint.0, endpoint.1);
        let address = match text.parse::<SocketAddr>() {
            Ok(address) => address,
            // A host name (rare: advertised listeners are addresses in tests and configs).
            Err(_) => text
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| FetchError::Resolve(text.clone()))?,
        };
        let secured = Secured {
            host: &endpoint.0,
            tls: config.inter_broker_tls.as_ref(),
            login: config.inter_broker_login.as_ref(),
        };
        Self::open(address, client_id, secured).await
    }

    /// Connects to `address`, then starts TLS and logs in as `secured` says.
    pub async fn open(
        address: SocketAddr,
        client_id: String,
        secured: Secured<'_>,
    ) -> Result<Self, FetchError> {
        let stream = crate::net::connect(address, CONNECT_TIMEOUT)
            .await
            .map_err(|source| FetchError::Connect { address, source })?;
        let _ = stream.set_nodelay(true);
        let stream = match secured.tls {
            Some(tls) => crate::net::connect_tls(stream, address, secured.host, tls.clone())
                .await
                .map_err(|source| FetchError::Connect { address, source })?,
            None => stream,
        };
        let mut connection = LeaderConnection {
            stream,
            reader: FrameReader::new(MAX_RESPONSE),
            memory: RequestMemory::new(None),
            client_id: StrBytes::from_string(client_id),
            correlation_id: 0,
        };
        if let Some(login) = secured.login {
            connection.log_in(login).await?;
        }
        Ok(connection)
    }

    /// The connection's stream, for another protocol once the login is done (the controller
    /// listener's frames): nothing is left unread, as every request here awaits its response.
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }

    /// SaslHandshake v1 and SaslAuthenticate v2 with the broker's own credentials (PLAIN, or
    /// SCRAM with the server's signature checked).
    async fn log_in(&mut self, login: &InterBrokerLogin) -> Result<(), FetchError> {
        let handshake: SaslHandshakeResponse = self
            .request(
                ApiKey::SaslHandshake,
                1,
                &SaslHandshakeRequest::default()
                    .with_mechanism(StrBytes::from_static_str(login.mechanism.name())),
                LOGIN_TIMEOUT,
            )
            .await?;
        if handshake.error_code != 0 {
            return Err(FetchError::Login(format!(
                "mechanism {} refused (error {})",
                login.mechanism.name(),
                handshake.error_code
            )));
        }
        match login.mechanism {
            SaslMechanism::Plain => {
                let token = format!("\0{}\0{}", login.username, login.password);
                self.authenticate(token.into_bytes()).await?;
            }
            SaslMechanism::Scram(mechanism) => {
                let nonce = crate::security::sasl::server_nonce();
                let (mut client, first) =
                    ScramClient::start(mechanism, &login.username, &login.password, &nonce);
                let server_first = self.authenticate(first).await?;
                let refused =
                    |e: crate::security::scram::ScramError| FetchError::Login(e.to_string());
                let client_final = client.respond(&server_first).map_err(refused)?;
                let server_final = self.authenticate(client_final).await?;
                client.verify(&server_final).map_err(refused)?;
            }
        }
        Ok(())
    }

    async fn authenticate(&mut self, token: Vec<u8>) -> Result<Vec<u8>, FetchError> {
        let response: SaslAuthenticateResponse = self
            .request(
                ApiKey::SaslAuthenticate,
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(token.into()),
                LOGIN_TIMEOUT,
            )
            .await?;
        if response.error_code != 0 {
            return Err(FetchError::Login(response.error_message.map_or_else(
                || format!("error {}", response.error_code),
                |m| m.to_string(),
            )));
        }
        Ok(response.auth_bytes.to_vec())
    }

    /// Sends `request` and waits for its response (bounded by the long poll plus
    /// `FETCH_TIMEOUT`; a connection that times out must be dropped).
    pub async fn fetch(&mut self, request: &FetchRequest) -> Result<FetchResponse, FetchError> {
        let limit = Duration::from_millis(request.max_wait_ms.max(0) as u64) + FETCH_TIMEOUT;
        self.request(ApiKey::Fetch, FETCH_VERSION, request, limit)
            .await
    }

    /// Sends `request` as `api` v`version` and waits at most `limit` for its response (a
    /// connection that times out must be dropped: the answer may still come).
    pub async fn request<Req: Encodable, Resp: Decodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        request: &Req,
        limit: Duration,
    ) -> Result<Resp, FetchError> {
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let mut buf = BytesMut::with_capacity(256);
        buf.extend_from_slice(&[0; 4]);
        RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(correlation_id)
            .with_client_id(Some(self.client_id.clone()))
            .encode(&mut buf, api.request_header_version(version))
            .map_err(|e| FetchError::Malformed(e.to_string()))?;
        request
            .encode(&mut buf, version)
            .map_err(|e| FetchError::Malformed(e.to_string()))?;
        let size = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&size.to_be_bytes());
        send_all(&mut self.stream, vec![buf.freeze()])
            .await
            .map_err(|e| FetchError::Io(e.to_string()))?;
        let frame = glommio::timer::timeout(limit, async {
            Ok(self.reader.next_frame(&mut self.stream, &self.memory).await)
        })
        .await
        .map_err(|_| FetchError::Timeout(limit))?
        .map_err(|e| FetchError::Io(e.to_string()))?
        .ok_or(FetchError::Closed)?;
        decode(frame.bytes, api, version, correlation_id)
    }
}

fn decode<Resp: Decodable>(
    mut bytes: Bytes,
    api: ApiKey,
    version: i16,
    correlation_id: i32,
) -> Result<Resp, FetchError> {
    let header = ResponseHeader::decode(&mut bytes, api.response_header_version(version))
        .map_err(|e| FetchError::Malformed(e.to_string()))?;
    if header.correlation_id != correlation_id {
        return Err(FetchError::Malformed(format!(
            "correlation id {} for request {correlation_id}",
            header.correlation_id
        )));
    }
    Resp::decode(&mut bytes, version).map_err(|e| FetchError::Malformed(e.to_string()))
}
