//! Client connections: TCP, then TLS when the endpoint asks for it.
//!
//! One [`Connector`] serves every OTLP client of the project — the `otlp` exporter and the
//! load generator through tonic's channel (gRPC, HTTP/2, ALPN `h2`), the `otlphttp` exporter
//! through hyper's pooled client (HTTP/1.1). The TLS settings are read once when the client
//! is built ([`crate::tls::TlsClientSettings`]); the name checked against the server's
//! certificate is `tls::server_name_override` or the endpoint's host, fixed then too, so every
//! connection of one client verifies the same identity.

use crate::tls::{TlsClientSettings, TlsError};
use futures::future::BoxFuture;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;

/// Opens plaintext or TLS connections to an endpoint.
#[derive(Clone)]
pub struct Connector {
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// Limit on TCP connect plus TLS handshake.
    connect_timeout: Option<Duration>,
    /// `SO_RCVBUF` / `SO_SNDBUF` of each connection; 0 keeps the system's.
    buffer_sizes: (usize, usize),
}

impl Connector {
    /// A connector to `host` (the endpoint's host): TLS when `use_tls`, with `settings`
    /// (defaults when absent), offering the `alpn` protocols.
    pub fn new(
        host: &str,
        use_tls: bool,
        settings: Option<&TlsClientSettings>,
        alpn: &[&[u8]],
    ) -> Result<Connector, TlsError> {
        if !use_tls {
            return Ok(Connector { tls: None, connect_timeout: None, buffer_sizes: (0, 0) });
        }
        let default = TlsClientSettings::default();
        let settings = settings.unwrap_or(&default);
        let tls = match settings.client_config(alpn)? {
            Some(config) => Some((TlsConnector::from(config), settings.server_name(host)?)),
            None => None,
        };
        Ok(Connector { tls, connect_timeout: None, buffer_sizes: (0, 0) })
    }

    /// Sets each connection's socket receive (`read`) and send (`write`) buffer sizes in bytes
    /// (the clients' `read_buffer_size` / `write_buffer_size`); 0 keeps the system's.
    pub fn with_buffer_sizes(mut self, read: usize, write: usize) -> Connector {
        self.buffer_sizes = (read, write);
        self
    }

    /// Bounds connecting (TCP and TLS handshake) by `timeout`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Connector {
        self.connect_timeout = Some(timeout);
        self
    }
}

/// An open connection, plaintext or TLS.
pub struct Stream(Either<TcpStream, Box<TlsStream<TcpStream>>>);

impl tower::Service<http::Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = BoxFuture<'static, io::Result<TokioIo<Stream>>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let tls = self.tls.clone();
        let timeout = self.connect_timeout;
        let (read_buffer, write_buffer) = self.buffer_sizes;
        let connect = async move {
            let host = uri.host().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the URI has no host"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
            let default_port = if uri.scheme_str() == Some("https") { 443 } else { 80 };
            let port = uri.port_u16().unwrap_or(default_port);
            let tcp = TcpStream::connect((host.as_str(), port)).await?;
            tcp.set_nodelay(true)?;
            let sock = socket2::SockRef::from(&tcp);
            if read_buffer > 0 {
                sock.set_recv_buffer_size(read_buffer)?;
            }
            if write_buffer > 0 {
                sock.set_send_buffer_size(write_buffer)?;
            }
            let stream = match tls {
                None => Either::Left(tcp),
                Some((connector, name)) => Either::Right(Box::new(connector.connect(name, tcp).await?)),
            };
            Ok(TokioIo::new(Stream(stream)))
        };
        Box::pin(async move {
            match timeout {
                Some(t) => tokio::time::timeout(t, connect)
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting timed out"))?,
                None => connect.await,
            }
        })
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        match &self.0 {
            Either::Right(tls) if tls.get_ref().1.alpn_protocol() == Some(crate::tls::ALPN_H2) => {
                connected.negotiated_h2()
            }
            _ => connected,
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }
}

/// An error and its causes on one line, `a: b: c` (a client's errors nest their reasons:
/// "client error (Connect): tcp connect error: Connection refused").
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
