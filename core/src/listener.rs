//! The connections a server serves: accepted under `max_connections`, through TLS when `tls`
//! is set, handed to tonic (as a stream) or axum (as a [`Listener`]). Every server of weir that
//! can speak TLS accepts through here: the OTLP receiver's gRPC and HTTP servers, the
//! `health_check` extension.
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
//!   `receiver` — the serving component's id, an extension's too — and `transport`) and logged
//!   at debug, since any port scanner causes them.
//! - **TCP or Unix sockets** (`transport: unix`), with or without TLS; socket buffer sizes
//!   (`read_buffer_size`, `write_buffer_size`) are set on each accepted connection, and a
//!   connection that carries no bytes for `max_connection_idle` is closed (read as ended).

use axum::serve::Listener;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
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
pub struct AcceptSettings {
    /// The serving component's id and the transport, for metrics and logs.
    pub receiver: String,
    pub transport: &'static str,
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// 0: no limit.
    pub max_connections: usize,
    /// `SO_RCVBUF` / `SO_SNDBUF` of each connection; 0 keeps the system's.
    pub read_buffer_size: usize,
    pub write_buffer_size: usize,
    /// Close a connection that carried no bytes for this long.
    pub max_idle: Option<Duration>,
}

/// A bound listening socket: TCP, or a Unix socket (removed again when dropped).
pub enum Bound {
    Tcp(TcpListener),
    Unix(UnixListener, PathBuf),
}

impl Drop for Bound {
    fn drop(&mut self) {
        if let Bound::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Bound {
    /// The address served, for logs.
    pub fn describe(&self) -> String {
        match self {
            Bound::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_default(),
            Bound::Unix(_, path) => format!("unix:{}", path.display()),
        }
    }

    fn local(&self) -> SocketAddr {
        match self {
            Bound::Tcp(l) => l.local_addr().unwrap_or_else(|_| unspecified()),
            Bound::Unix(..) => unspecified(),
        }
    }

    async fn accept(&self) -> io::Result<(Plain, SocketAddr)> {
        match self {
            Bound::Tcp(l) => {
                let (s, remote) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Ok((Either::Left(s), remote))
            }
            Bound::Unix(l, _) => {
                let (s, _) = l.accept().await?;
                Ok((Either::Right(s), unspecified()))
            }
        }
    }
}

/// The peer address of a Unix-socket client (it has none).
fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// A plaintext stream: TCP or Unix.
type Plain = Either<TcpStream, UnixStream>;

/// Sets the socket buffer sizes of an accepted connection (errors are logged, not fatal).
fn set_buffer_sizes(io: &Plain, read: usize, write: usize) {
    let sock = match io {
        Either::Left(s) => socket2::SockRef::from(s),
        Either::Right(s) => socket2::SockRef::from(s),
    };
    if read > 0 {
        if let Err(error) = sock.set_recv_buffer_size(read) {
            tracing::debug!(message = "Cannot set the receive buffer size.", %error, read);
        }
    }
    if write > 0 {
        if let Err(error) = sock.set_send_buffer_size(write) {
            tracing::debug!(message = "Cannot set the send buffer size.", %error, write);
        }
    }
}

/// Closes (reads as ended) a connection that carried no bytes for `limit`.
struct IdleTimer {
    limit: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl IdleTimer {
    fn new(limit: Duration) -> IdleTimer {
        IdleTimer { limit, sleep: Box::pin(tokio::time::sleep(limit)) }
    }

    fn touch(&mut self) {
        self.sleep.as_mut().reset(tokio::time::Instant::now() + self.limit);
    }
}

/// One accepted connection, plaintext or TLS, holding its place under `max_connections`.
pub struct Connection {
    io: Either<Plain, Box<TlsStream<Plain>>>,
    remote: SocketAddr,
    idle: Option<IdleTimer>,
    /// Released when the connection is dropped.
    _permit: Option<OwnedSemaphorePermit>,
}

/// The accepted connections of one server, in the order their handshakes completed.
pub struct Connections {
    ready: mpsc::Receiver<Connection>,
    local: SocketAddr,
    accept_loop: Option<tokio::task::JoinHandle<()>>,
}

impl Connections {
    /// Starts accepting on `listener` until `shutdown`.
    pub fn start(listener: Bound, settings: AcceptSettings, shutdown: CancellationToken) -> Connections {
        let local = listener.local();
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accept_loop = tokio::spawn(accept_loop(listener, settings, tx, shutdown));
        Connections { ready, local, accept_loop: Some(accept_loop) }
    }

    /// Resolves once the listening socket is closed (the accept loop ended at `shutdown`).
    /// A server awaits it after it stops, so that when its task ends the port is free again:
    /// a reload binds the same ports right after the old servers are stopped, and the accept
    /// loop is a separate task that may not have run since the cancellation.
    pub fn closed(&mut self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let accept_loop = self.accept_loop.take();
        async move {
            if let Some(task) = accept_loop {
                let _ = task.await;
            }
        }
    }

    /// The connections as the stream tonic's `serve_with_incoming_shutdown` takes; it ends
    /// when the accept loop stops.
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<Connection, io::Error>> {
        futures::stream::unfold(self.ready, |mut rx| async move { rx.recv().await.map(|c| (Ok(c), rx)) })
    }
}

async fn accept_loop(
    listener: Bound,
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
        set_buffer_sizes(&stream, settings.read_buffer_size, settings.write_buffer_size);
        let idle = settings.max_idle.map(IdleTimer::new);
        match &acceptor {
            None => {
                if ready.send(Connection { io: Either::Left(stream), remote, idle, _permit: permit }).await.is_err() {
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
                                .send(Connection { io: Either::Right(Box::new(tls)), remote, idle, _permit: permit })
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
        let before = buf.filled().len();
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Some(idle) = &mut this.idle {
            if buf.filled().len() > before {
                idle.touch();
            } else if r.is_pending() && idle.sleep.as_mut().poll(cx).is_ready() {
                // Idle for max_connection_idle: the connection reads as ended and is closed.
                return Poll::Ready(Ok(()));
            }
        }
        r
    }
}

impl AsyncWrite for Connection {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        if let (Some(idle), Poll::Ready(Ok(n))) = (&mut this.idle, &r) {
            if *n > 0 {
                idle.touch();
            }
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        if let (Some(idle), Poll::Ready(Ok(n))) = (&mut this.idle, &r) {
            if *n > 0 {
                idle.touch();
            }
        }
        r
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn buffer_sizes_are_set_on_accepted_connections() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (server, _) = l.accept().await.unwrap();
        let plain: Plain = Either::Left(server);
        set_buffer_sizes(&plain, 64 * 1024, 32 * 1024);
        let Either::Left(server) = &plain else { unreachable!() };
        let sock = socket2::SockRef::from(server);
        // Linux doubles the requested size for its bookkeeping.
        assert!(sock.recv_buffer_size().unwrap() >= 64 * 1024);
        assert!(sock.send_buffer_size().unwrap() >= 32 * 1024);
        drop(client);
    }
}
