//! Client connections: a SO_REUSEPORT listener per shard, one task per connection that reads
//! Kafka frames, handles one request at a time (so responses go out in request order, as Kafka
//! requires) and writes the response parts with vectored sends.

mod frame;
mod send;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use glommio::net::{TcpListener, TcpStream};

use crate::config::BrokerConfig;
use crate::protocol;
use crate::shard::Shard;
use frame::{FrameError, FrameReader};

/// Binds the client port on this shard. glommio sets SO_REUSEPORT, so every shard binds the same
/// address and the kernel spreads connections over them.
pub fn bind(config: &BrokerConfig) -> std::io::Result<TcpListener> {
    TcpListener::bind(config.listener).map_err(|e| std::io::Error::other(e.to_string()))
}

pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let shard = shard.clone();
                glommio::spawn_local(serve_connection(shard, stream)).detach();
            }
            Err(e) => {
                // Out of file descriptors and the like: log, back off briefly, keep serving.
                tracing::warn!(error = %e, "accept failed");
                glommio::timer::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    }
}

async fn serve_connection(shard: Rc<Shard>, mut stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, error = %e, "TCP_NODELAY");
    }
    // connections.max.idle.ms: glommio's own read timeout (no racing of read futures).
    let idle = shard
        .config
        .connections_max_idle_ms
        .map(Duration::from_millis);
    if let Err(e) = stream.set_read_timeout(idle) {
        tracing::debug!(%peer, error = %e, "read timeout");
    }
    tracing::debug!(%peer, shard = shard.id, "connection opened");
    let mut reader = FrameReader::new(shard.config.socket_request_max_bytes);
    loop {
        let frame = match reader.next_frame(&mut stream).await {
            Ok(Some(frame)) => frame,
            Ok(None) => break,
            Err(FrameError::Io(e)) if e.kind() == std::io::ErrorKind::TimedOut => {
                tracing::info!(%peer, "closing idle connection (connections.max.idle.ms)");
                break;
            }
            Err(FrameError::Io(e)) => {
                tracing::debug!(%peer, error = %e, "connection read failed");
                break;
            }
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad frame");
                break;
            }
        };
        match protocol::handle(&shard, peer, frame).await {
            Ok(Some(response)) => {
                if let Err(e) = send::send_all(&mut stream, response.parts).await {
                    tracing::debug!(%peer, error = %e, "connection write failed");
                    break;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(%peer, error = %e, "closing connection: bad request");
                break;
            }
        }
    }
    tracing::debug!(%peer, "connection closed");
}
