//! The connections a server serves: accepted under `max_connections`, through TLS when `tls`
//! is set, handed to tonic (as a stream) or axum (as a [`Listener`]).
//!
//! ```text
//!  TcpListener ─ accept loop ─(permit of max_connections)─▶ handshake task ─▶ channel ─▶ server
//!                                                           (TLS, ≤ 10 s)
//! ```
//!
//! - **Connection limit.** A connection holds a semaphore permit for its whole life; at the
//!   limit the loop stops accepting, so new clients wait in the kernel's backlog instead of
//!   costing memory and a task each.
//! - **Handshakes off the accept loop.** Each TLS handshake runs in its own task with a
//!   deadline, so a client that opens a connection and sends nothing (or plaintext that is
//!   not a ClientHello) only holds its own permit until the deadline, never the loop.
//! - **Refused handshakes are counted** in `weir_receiver_tls_handshake_failures` (labels
//!   `receiver`, `transport`) and logged at debug, since any port scanner causes them.

use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tokio_util::either::Either;
use tokio_util::sync::CancellationToken;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections ready to serve, waiting for the server to take them.
const READY_QUEUE: usize = 64;

/// How a server accepts: with TLS or not, and how many connections at once.
pub(crate) struct AcceptSettings {
    /// The receiver's id and the transport, for metrics and logs.
    pub receiver: String,
    pub transport: &'static str,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// 0: no limit.
    pub max_connections: usize,
}

/// One accepted connection, plaintext or TLS, holding its place under `max_connections`.
pub(crate) struct Connection {
    io: Either<TcpStream, Box<TlsStream<TcpStream>>>,
    remote: SocketAddr,
    /// Released when the connection is dropped.
    _permit: Option<OwnedSemaphorePermit>,
}

/// The accepted connections of one server, in the order their handshakes completed.
pub(crate) struct Connections {
    ready: mpsc::Receiver<Connection>,
    local: SocketAddr,
}

impl Connections {
    /// Starts accepting on `listener` until `shutdown`.
    pub(crate) fn start(listener: TcpListener, settings: AcceptSettings, shutdown: CancellationToken) -> Connections {
        let local = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(listener, settings, tx, shutdown));
        Connections { ready, local }
    }

    /// The connections as the stream tonic's `serve_with_incoming_shutdown` takes; it ends
    /// when the accept loop stops.
    pub(crate) fn into_stream(self) -> impl futures::Stream<Item = Result<Connection, io::Error>> {
        futures::stream::unfold(self.ready, |mut rx| async move { rx.recv().await.map(|c| (Ok(c), rx)) })
    }
}

async fn accept_loop(
    listener: TcpListener,
    settings: AcceptSettings,
    ready: mpsc::Sender<Connection>,
    shutdown: CancellationToken,
) {
    let limit = (settings.max_connections > 0).then(|| Arc::new(Semaphore::new(settings.max_connections)));
    let acceptor = settings.tls.clone().map(TlsAcceptor::from);
    let failures = metrics::counter!(
        "weir_receiver_tls_handshake_failures",
        "receiver" => settings.receiver.clone(),
        "transport" => settings.transport,
    );
    loop {
        let permit = match &limit {
            Some(s) => tokio::select! {
                _ = shutdown.cancelled() => return,
                p = s.clone().acquire_owned() => match p {
                    Ok(p) => Some(p),
                    Err(_) => return,
                },
            },
            None => None,
        };
        let (stream, remote) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(message = "Failed to accept a connection.", receiver = %settings.receiver, error = %e);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        match &acceptor {
            None => {
                if ready.send(Connection { io: Either::Left(stream), remote, _permit: permit }).await.is_err() {
                    return;
                }
            }
            Some(acceptor) => {
                let acceptor = acceptor.clone();
                let ready = ready.clone();
                let failures = failures.clone();
                let receiver = settings.receiver.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready
                                .send(Connection { io: Either::Right(Box::new(tls)), remote, _permit: permit })
                                .await;
                        }
                        Ok(Err(e)) => {
                            failures.increment(1);
                            tracing::debug!(message = "Refused a TLS handshake.", %receiver, %remote, error = %e);
                        }
                        Err(_) => {
                            failures.increment(1);
                            tracing::debug!(message = "TLS handshake timed out.", %receiver, %remote);
                        }
                    }
                });
            }
        }
    }
}

impl Listener for Connections {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        match self.ready.recv().await {
            Some(c) => {
                let remote = c.remote;
                (c, remote)
            }
            // The accept loop stopped (shutdown): the server's graceful shutdown ends serving.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = SocketAddr;

    fn connect_info(&self) -> SocketAddr {
        self.remote
    }
}

impl AsyncRead for Connection {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
