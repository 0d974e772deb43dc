//! The one HTTP/1.1 request the detectors make at a time: metadata services on link-local
//! addresses (plain HTTP) and the Docker Engine over its Unix socket. Each call is bounded by
//! the detection timeout of the caller.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// An answer: status and body.
pub(crate) struct Response {
    pub status: u16,
    pub body: Bytes,
}

impl Response {
    pub(crate) fn ok(self, what: &str) -> Result<Bytes, String> {
        if (200..300).contains(&self.status) {
            Ok(self.body)
        } else {
            Err(format!("{what}: HTTP {}", self.status))
        }
    }
}

async fn send<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    req: Request<Full<Bytes>>,
) -> Result<Response, String> {
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
    let task = tokio::spawn(conn);
    let res = sender.send_request(req).await.map_err(|e| e.to_string());
    let out = match res {
        Ok(res) => {
            let status = res.status().as_u16();
            let body = res.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            Ok(Response { status, body })
        }
        Err(e) => Err(e),
    };
    task.abort();
    out
}

/// `method url` with `headers` over TCP; `url` is `http://host[:port]/path[?query]`.
pub(crate) async fn request(method: &str, url: &str, headers: &[(&str, &str)]) -> Result<Response, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("{url}: only http:// metadata endpoints are supported"));
    }
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?.trim_matches(|c| c == '[' || c == ']');
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port)).await.map_err(|e| format!("{url}: {e}"))?;
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut req =
        Request::builder().method(method).uri(path).header("host", uri.authority().map(|a| a.as_str()).unwrap_or(host));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(Bytes::new())).map_err(|e| e.to_string())?;
    send(stream, req).await.map_err(|e| format!("{url}: {e}"))
}

/// `GET path` over the Unix socket at `socket` (the Docker Engine API).
pub(crate) async fn unix_get(socket: &str, path: &str) -> Result<Bytes, String> {
    let stream = tokio::net::UnixStream::connect(socket).await.map_err(|e| format!("unix://{socket}: {e}"))?;
    let req = Request::builder()
        .method("GET")
        .uri(path)
        .header("host", "docker")
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    send(stream, req).await.map_err(|e| format!("unix://{socket}{path}: {e}"))?.ok(path)
}
