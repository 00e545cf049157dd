//! SASL authentication of a connection on a SASL_PLAINTEXT listener, before any other request
//! is read (Kafka's SaslServerAuthenticator): ApiVersions, then SaslHandshake naming a
//! mechanism, then SaslAuthenticate tokens until the mechanism is satisfied (after a v0
//! handshake, KIP-43's raw size-prefixed tokens instead). Anything else
//! closes the connection with a log line; a failed login is answered
//! SASL_AUTHENTICATION_FAILED, logged with the peer, counted, and the connection closed.

use std::net::SocketAddr;
use std::rc::Rc;

use bytes::Bytes;
use glommio::net::TcpStream;
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::frame::{FrameError, FrameReader};
use super::send::send_all;
use crate::error_code::ErrorCode;
use crate::protocol::{self, Decoded};
use crate::security::sasl::{
    server_nonce, CredentialSource, SaslExchange, SaslMechanism, SaslStep,
};
use crate::security::scram::{ScramCredential, ScramMechanism};
use crate::shard::Shard;

/// The credentials a shard checks logins against: PLAIN users from the config, SCRAM
/// credentials from its copy of the cluster metadata.
struct ShardCredentials<'a> {
    shard: &'a Shard,
    /// The listener's name: its JAAS entry may name its own PLAIN users.
    listener: &'a str,
}

impl CredentialSource for ShardCredentials<'_> {
    fn plain_password(&self, user: &str) -> Option<String> {
        self.shard
            .config
            .sasl
            .plain_password(self.listener, user)
            .cloned()
    }

    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential> {
        self.shard
            .meta()
            .scram_credentials
            .get(&(user.to_string(), mechanism))
            .cloned()
    }
}

/// A login on a connection: its first frame when already read (a re-authentication's
/// SaslHandshake, KIP-368), and the user an earlier login proved (a re-authentication must be
/// the same user, as Kafka requires).
#[derive(Default)]
pub struct Login<'a> {
    pub first_frame: Option<Bytes>,
    pub same_user_as: Option<&'a str>,
}

/// Runs the SASL exchange; the authenticated user, or `None` when the connection is to close.
pub async fn authenticate(
    shard: &Rc<Shard>,
    stream: &mut TcpStream,
    reader: &mut FrameReader,
    (peer, listener): (SocketAddr, &str),
    login: Login<'_>,
) -> Option<String> {
    let mut exchange: Option<(SaslMechanism, SaslExchange)> = None;
    // SaslHandshake v0: the tokens that follow are bare frames, not SaslAuthenticate.
    let mut raw_tokens = false;
    let mut first_frame = login.first_frame;
    // KIP-368: SaslAuthenticate v1+ tells the client how long its session lasts.
    let session_lifetime_ms = shard
        .config
        .connections_max_reauth_ms
        .map_or(0, |ms| i64::try_from(ms).unwrap_or(i64::MAX));
    loop {
        let next = match first_frame.take() {
            Some(frame) => Ok(Some(frame)),
            None => reader
                .next_frame(stream, &shard.request_memory)
                .await
                .map(|f| f.map(|f| f.bytes)),
        };
        let frame = match next {
            Ok(Some(frame)) => frame,
            Ok(None) => return None,
            Err(FrameError::Io(e)) => {
                tracing::debug!(%peer, error = %e, "connection closed during SASL authentication");
                return None;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame during SASL authentication");
                return None;
            }
        };
        if raw_tokens {
            let (mechanism, current) = exchange.take()?;
            let credentials = ShardCredentials { shard, listener };
            match current.step(&frame, &credentials, server_nonce) {
                Ok((step, next)) => {
                    let (token, user) = match step {
                        SaslStep::Challenge(token) => (token, None),
                        SaslStep::Authenticated { user, reply } => (reply, Some(user)),
                    };
                    let size = u32::try_from(token.len()).ok()?.to_be_bytes();
                    let parts = vec![Bytes::copy_from_slice(&size), Bytes::from(token)];
                    send(stream, peer, parts).await?;
                    if user.is_some() {
                        // A re-authentication (KIP-368) must be the same user.
                        return user.filter(|u| login.same_user_as.is_none_or(|e| e == u));
                    }
                    exchange = next.map(|next| (mechanism, next));
                    continue;
                }
                Err(e) => {
                    // Kafka closes a legacy (v0) exchange without an answer.
                    shard.metrics.authentication_failed();
                    tracing::warn!(%peer, mechanism = mechanism.name(), reason = %e, "SASL authentication failed");
                    return None;
                }
            }
        }
        if protocol::api_key(&frame) == ApiKey::ApiVersions as i16 {
            let origin = protocol::Origin {
                peer,
                listener,
                principal: crate::security::acl::ANONYMOUS,
            };
            let response = protocol::handle(shard, origin, frame).await;
            match response {
                Ok(Some(response)) => send(stream, peer, response.parts).await?,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "closing connection: bad ApiVersions");
                    return None;
                }
            }
            continue;
        }
        let request = match protocol::decode_request(frame) {
            Ok(Decoded::Request(request)) => *request,
            Ok(Decoded::Answer(response)) => {
                send(stream, peer, response.parts).await?;
                continue;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad request during SASL authentication");
                return None;
            }
        };
        let reply = |body: ResponseKind| {
            protocol::encode_typed(request.api, request.version, request.correlation_id, body)
        };
        match request.request {
            RequestKind::SaslHandshake(handshake) => {
                let enabled = &shard.config.sasl.mechanisms;
                let names: Vec<StrBytes> = enabled
                    .iter()
                    .map(|m| StrBytes::from_static_str(m.name()))
                    .collect();
                let asked = handshake.mechanism.as_str();
                let chosen = SaslMechanism::parse(asked).filter(|m| enabled.contains(m));
                let code = match (&exchange, chosen) {
                    (Some(_), _) => ErrorCode::IllegalSaslState,
                    (None, None) => ErrorCode::UnsupportedSaslMechanism,
                    (None, Some(_)) => ErrorCode::None,
                };
                let response = SaslHandshakeResponse::default()
                    .with_error_code(code.code())
                    .with_mechanisms(names);
                let response = reply(ResponseKind::SaslHandshake(response)).ok()?;
                send(stream, peer, response.parts).await?;
                match (code, chosen) {
                    (ErrorCode::None, Some(mechanism)) => {
                        exchange = Some((mechanism, SaslExchange::new(mechanism)));
                        raw_tokens = request.version == 0;
                    }
                    _ => {
                        tracing::warn!(%peer, mechanism = asked, error = code.name(), "closing connection: SASL handshake refused");
                        return None;
                    }
                }
            }
            RequestKind::SaslAuthenticate(authenticate) => {
                let Some((mechanism, current)) = exchange.take() else {
                    let response = SaslAuthenticateResponse::default()
                        .with_error_code(ErrorCode::IllegalSaslState.code())
                        .with_error_message(Some(StrBytes::from_static_str(
                            "SaslAuthenticate before SaslHandshake",
                        )));
                    let response = reply(ResponseKind::SaslAuthenticate(response)).ok()?;
                    let _ = send(stream, peer, response.parts).await;
                    tracing::warn!(%peer, "closing connection: SaslAuthenticate before SaslHandshake");
                    return None;
                };
                let credentials = ShardCredentials { shard, listener };
                match current.step(&authenticate.auth_bytes, &credentials, server_nonce) {
                    Ok((SaslStep::Challenge(challenge), next)) => {
                        let response = SaslAuthenticateResponse::default()
                            .with_auth_bytes(Bytes::from(challenge));
                        let response = reply(ResponseKind::SaslAuthenticate(response)).ok()?;
                        send(stream, peer, response.parts).await?;
                        exchange = next.map(|next| (mechanism, next));
                    }
                    Ok((SaslStep::Authenticated { user, .. }, _))
                        if login.same_user_as.is_some_and(|earlier| earlier != user) =>
                    {
                        shard.metrics.authentication_failed();
                        tracing::warn!(%peer, %user, earlier = login.same_user_as, "closing connection: re-authentication as another user");
                        let response = SaslAuthenticateResponse::default()
                            .with_error_code(ErrorCode::SaslAuthenticationFailed.code())
                            .with_error_message(Some(StrBytes::from_static_str(
                                "Cannot change principals during re-authentication",
                            )));
                        let response = reply(ResponseKind::SaslAuthenticate(response)).ok()?;
                        let _ = send(stream, peer, response.parts).await;
                        return None;
                    }
                    Ok((SaslStep::Authenticated { user, reply: token }, _)) => {
                        let response = SaslAuthenticateResponse::default()
                            .with_auth_bytes(Bytes::from(token))
                            .with_session_lifetime_ms(session_lifetime_ms);
                        let response = reply(ResponseKind::SaslAuthenticate(response)).ok()?;
                        send(stream, peer, response.parts).await?;
                        tracing::debug!(%peer, %user, mechanism = mechanism.name(), "authenticated");
                        return Some(user);
                    }
                    Err(e) => {
                        shard.metrics.authentication_failed();
                        tracing::warn!(%peer, mechanism = mechanism.name(), reason = %e, "SASL authentication failed");
                        // Kafka's message, which does not say whether the user exists.
                        let message = format!(
                            "Authentication failed during authentication due to invalid credentials with SASL mechanism {}",
                            mechanism.name()
                        );
                        let response = SaslAuthenticateResponse::default()
                            .with_error_code(ErrorCode::SaslAuthenticationFailed.code())
                            .with_error_message(Some(StrBytes::from_string(message)));
                        let response = reply(ResponseKind::SaslAuthenticate(response)).ok()?;
                        let _ = send(stream, peer, response.parts).await;
                        return None;
                    }
                }
            }
            _ => {
                tracing::warn!(%peer, api = ?request.api, "closing connection: a request before SASL authentication");
                return None;
            }
        }
    }
}

async fn send(stream: &mut TcpStream, peer: SocketAddr, parts: Vec<Bytes>) -> Option<()> {
    match send_all(stream, parts).await {
        Ok(()) => Some(()),
        Err(e) => {
            tracing::debug!(%peer, error = %e, "connection write failed during SASL authentication");
            None
        }
    }
}
