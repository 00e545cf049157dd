//! The controller listener's accepted connections, secured as its protocol in
//! `listener.security.protocol.map` says before `quorum::wire` reads a frame: TLS on SSL and
//! SASL_SSL (the client certificate's subject, mapped by `ssl.principal.mapping.rules`, is the
//! principal), then on SASL_PLAINTEXT and SASL_SSL Kafka's SaslHandshake and SaslAuthenticate
//! exchange in Kafka's framing (the logged-in user is the principal, as Kafka's).

use std::net::SocketAddr;
use std::rc::Rc;

use glommio::net::TcpStream;

use super::authenticate::{self, Login};
use super::tls::{self, TlsPrincipal};
use super::FrameReader;
use crate::security::{acl, principal};
use crate::shard::Shard;

/// The login frames are small: a PLAIN token, a SaslHandshake.
const LOGIN_FRAME_MAX: usize = 64 * 1024;

/// Secures one accepted connection: its plaintext stream and principal, or `None` when it is
/// to be closed (the reason is logged).
pub async fn admit(
    shard: &Rc<Shard>,
    stream: TcpStream,
    peer: SocketAddr,
) -> Option<(TcpStream, TlsPrincipal)> {
    let security = &shard.config.controller_security;
    let (mut stream, principal) = match &security.server_tls {
        Some(config) => match tls::accept(shard.clone(), stream, peer, config.clone()) {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(%peer, error = %e, "controller listener: cannot start TLS; closing the connection");
                return None;
            }
        },
        None => {
            let principal = TlsPrincipal::default();
            *principal.borrow_mut() = Some(acl::ANONYMOUS.to_string());
            (stream, principal)
        }
    };
    if security.protocol.uses_sasl() {
        let mut reader = FrameReader::new(LOGIN_FRAME_MAX);
        let user = authenticate::authenticate(
            shard,
            &mut stream,
            &mut reader,
            (peer, &security.name),
            Login::default(),
        )
        .await?;
        *principal.borrow_mut() = Some(principal::user(&user));
    }
    Some((stream, principal))
}
