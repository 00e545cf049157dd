//! The admin port (`admin.listener`, default 127.0.0.1:9644): a minimal HTTP/1.1 server on
//! shard 0 with one resource, `GET /metrics`, in Prometheus text format. One request per
//! connection; anything else gets the HTTP status that says why.

use std::rc::Rc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};

use crate::shard::Shard;

/// A scraper's request head is a few hundred bytes; anything longer is refused.
const MAX_REQUEST_HEAD: usize = 8 * 1024;
const READ_TIMEOUT: Duration = Duration::from_secs(5);

pub async fn serve(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(answer(shard.clone(), stream)).detach();
            }
            Err(e) => {
                tracing::warn!(error = %e, "admin accept failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

/// What a request head asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Metrics,
    NotFound,
    MethodNotAllowed,
    BadRequest,
}

pub fn route(head: &[u8]) -> Route {
    let Ok(head) = std::str::from_utf8(head) else {
        return Route::BadRequest;
    };
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest;
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest;
    }
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET" | "HEAD", "/metrics") => Route::Metrics,
        (_, "/metrics") => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}

async fn answer(shard: Rc<Shard>, mut stream: TcpStream) {
    if let Err(e) = stream.set_read_timeout(Some(READ_TIMEOUT)) {
        tracing::debug!(error = %e, "admin read timeout");
    }
    let head = match read_head(&mut stream).await {
        Ok(head) => head,
        Err(e) => {
            tracing::debug!(error = %e, "admin request not read");
            return;
        }
    };
    let response = match route(&head) {
        Route::Metrics => {
            let body = shard.scrape_metrics().await;
            let body = if head.starts_with(b"HEAD") {
                String::new()
            } else {
                body
            };
            http_response("200 OK", "text/plain; version=0.0.4; charset=utf-8", &body)
        }
        Route::NotFound => http_response("404 Not Found", "text/plain", "try /metrics\n"),
        Route::MethodNotAllowed => {
            http_response("405 Method Not Allowed", "text/plain", "GET /metrics\n")
        }
        Route::BadRequest => {
            tracing::info!("admin port: malformed HTTP request");
            http_response("400 Bad Request", "text/plain", "malformed request\n")
        }
    };
    if let Err(e) = stream.write_all(response.as_bytes()).await {
        tracing::debug!(error = %e, "admin response not sent");
    }
    let _ = stream.close().await;
}

/// Reads up to the blank line that ends the request head.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(head);
        }
        head.extend_from_slice(&buf[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() > MAX_REQUEST_HEAD {
            return Ok(head);
        }
    }
}

fn http_response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(
            route(b"GET /metrics?name[]=x HTTP/1.0\r\n\r\n"),
            Route::Metrics
        );
        assert_eq!(route(b"HEAD /metrics HTTP/1.1\r\n\r\n"), Route::Metrics);
        assert_eq!(
            route(b"POST /metrics HTTP/1.1\r\n\r\n"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(b"GET / HTTP/1.1\r\n\r\n"), Route::NotFound);
        assert_eq!(route(b"GET /metrics\r\n\r\n"), Route::BadRequest);
        assert_eq!(route(b"\x00\x00\x00\x10binary"), Route::BadRequest);
        assert_eq!(route(b""), Route::BadRequest);
    }

    #[test]
    fn responses_carry_their_length() {
        let response = http_response("200 OK", "text/plain", "abc\n");
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(response.contains("Content-Length: 4\r\n"));
        assert!(response.ends_with("\r\n\r\nabc\n"));
    }
}
