// weir-healthcheck: the image's HEALTHCHECK. The runtime image is distroless (no shell, no curl),
// so this tiny std-only program, compiled in the builder stage with plain `rustc`, asks weir's
// `health_check` extension whether the pipelines run.
//
//   weir-healthcheck [http://]HOST:PORT[/PATH]     default: 127.0.0.1:<port of $WEIR_HEALTH_ENDPOINT or 13133>/
//
// Exit 0 on an HTTP 200 answer, 1 otherwise (connection refused, timeout, 503 while starting,
// reloading or draining). Kubernetes does not use it: there the liveness and readiness probes
// on port 13133 are the health mechanism.
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

fn target() -> (String, String) {
    let arg = std::env::args().nth(1).unwrap_or_else(|| {
        let port = std::env::var("WEIR_HEALTH_ENDPOINT")
            .ok()
            .and_then(|e| e.rsplit(':').next().map(str::to_owned))
            .filter(|p| p.parse::<u16>().is_ok())
            .unwrap_or_else(|| "13133".to_owned());
        format!("127.0.0.1:{port}")
    });
    let rest = arg.strip_prefix("http://").unwrap_or(&arg);
    match rest.find('/') {
        Some(i) => (rest[..i].to_owned(), rest[i..].to_owned()),
        None => (rest.to_owned(), "/".to_owned()),
    }
}

fn check() -> Result<(), String> {
    let (hostport, path) = target();
    let timeout = Duration::from_secs(3);
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{hostport}: {e}"))?
        .next()
        .ok_or_else(|| format!("{hostport}: no address"))?;
    let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("{hostport}: {e}"))?;
    s.set_read_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(timeout)).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {hostport}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut buf = Vec::new();
    let _ = s.take(4096).read_to_end(&mut buf);
    let head = String::from_utf8_lossy(&buf);
    let status = head.lines().next().unwrap_or("");
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(format!("http://{hostport}{path}: {status:?}")),
    }
}

fn main() {
    if let Err(e) = check() {
        eprintln!("weir-healthcheck: unhealthy: {e}");
        std::process::exit(1);
    }
}
