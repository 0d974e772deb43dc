//! A raw-bytes OTLP/gRPC server on loopback for exporter tests: it records every call (path,
//! `grpc-encoding`, metadata, the decompressed message) and answers from a script.

use bytes::Bytes;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, Service};
use tonic::server::UnaryService;
use tonic::transport::server::TcpIncoming;
use tonic::Status;
use weir_core::grpc::RawBytesCodec;

/// One call as the server saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub grpc_encoding: Option<String>,
    pub headers: http::HeaderMap,
    pub message: Bytes,
}

#[derive(Default)]
struct Script {
    received: Mutex<Vec<Received>>,
    /// Statuses to answer, in order, before answering OK.
    failures: Mutex<VecDeque<Status>>,
    /// The OK response message.
    response: Mutex<Bytes>,
}

/// A raw-bytes gRPC server serving every path.
#[derive(Clone)]
struct RecordingServer(Arc<Script>);

impl Service<http::Request<tonic::body::Body>> for RecordingServer {
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Infallible>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let handler =
            Handler { script: self.0.clone(), path: req.uri().path().to_string(), headers: req.headers().clone() };
        Box::pin(async move {
            let mut grpc = tonic::server::Grpc::new(RawBytesCodec)
                .accept_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Zstd)
                .accept_compressed(CompressionEncoding::Deflate);
            Ok(grpc.unary(handler, req).await)
        })
    }
}

struct Handler {
    script: Arc<Script>,
    path: String,
    headers: http::HeaderMap,
}

impl UnaryService<Bytes> for Handler {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let grpc_encoding = self.headers.get("grpc-encoding").and_then(|v| v.to_str().ok()).map(str::to_string);
        self.script.received.lock().unwrap().push(Received {
            path: self.path.clone(),
            grpc_encoding,
            headers: self.headers.clone(),
            message: request.into_inner(),
        });
        let answer = match self.script.failures.lock().unwrap().pop_front() {
            Some(status) => Err(status),
            None => Ok(tonic::Response::new(self.script.response.lock().unwrap().clone())),
        };
        Box::pin(async move { answer })
    }
}

pub struct TestServer {
    pub addr: SocketAddr,
    script: Arc<Script>,
    task: super::ServerTask,
}

impl TestServer {
    pub async fn start() -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Script::default());
        let svc = RecordingServer(script.clone());
        let task = super::ServerTask::spawn(|shutdown| async move {
            tonic::transport::Server::builder()
                .serve_with_incoming_shutdown(svc, TcpIncoming::from(listener), shutdown)
                .await
                .unwrap();
        });
        TestServer { addr, script, task }
    }

    pub fn fail_next(&self, status: Status) {
        self.script.failures.lock().unwrap().push_back(status);
    }

    pub fn respond_with(&self, message: Vec<u8>) {
        *self.script.response.lock().unwrap() = Bytes::from(message);
    }

    pub fn received(&self) -> Vec<Received> {
        self.script.received.lock().unwrap().clone()
    }

    pub async fn stop(self) {
        self.task.stop().await;
    }
}
