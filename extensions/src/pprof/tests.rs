//! `pprof`: defaults and keys of upstream's testdata, the encoding (decoded back), and a real
//! profile fetched over HTTP.

use super::*;
use prost::Message;
use std::io::Read;

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b).read_to_end(&mut out).expect("gzip");
    out
}

#[test]
fn defaults_and_upstream_keys() {
    let c: PprofConfig = weir_core::testing::parse_config("{}").unwrap();
    assert_eq!(c, PprofConfig::default());
    assert_eq!(c.endpoint, "localhost:1777");
    let c: PprofConfig = weir_core::testing::parse_config(
        "{endpoint: \"127.0.0.1:1777\", block_profile_fraction: 3, mutex_profile_fraction: 5}",
    )
    .unwrap();
    assert_eq!((c.block_profile_fraction, c.mutex_profile_fraction), (3, 5));
    assert!(weir_core::testing::parse_config::<PprofConfig>("{nope: 1}").is_err());
}

#[test]
fn encoded_profile_has_cpu_sample_types_and_resolvable_locations() {
    let stacks = vec![
        Stack {
            frames: vec![(0x10, "inner".into(), "src/a.rs".into(), 7), (0x20, "outer".into(), "src/b.rs".into(), 9)],
            thread: "tokio-runtime-worker".into(),
            count: 3,
        },
        Stack { frames: vec![(0x20, "outer".into(), "src/b.rs".into(), 9)], thread: "main".into(), count: 1 },
    ];
    let bytes = encode(&stacks, 100, std::time::SystemTime::now(), Duration::from_secs(1));
    let p = proto::Profile::decode(gunzip(&bytes).as_slice()).expect("valid profile.proto");
    let s = |i: i64| p.string_table[i as usize].as_str();
    assert_eq!(s(0), "");
    let types: Vec<(&str, &str)> = p.sample_type.iter().map(|t| (s(t.r#type), s(t.unit))).collect();
    assert_eq!(types, vec![("samples", "count"), ("cpu", "nanoseconds")]);
    assert_eq!(p.period, 10_000_000);
    assert_eq!(p.sample.len(), 2);
    assert_eq!(p.sample[0].value, vec![3, 30_000_000]);
    // Shared frames share a location and a function.
    assert_eq!(p.location.len(), 2);
    assert_eq!(p.function.len(), 2);
    let leaf = &p.location[(p.sample[0].location_id[0] - 1) as usize];
    let f = &p.function[(leaf.line[0].function_id - 1) as usize];
    assert_eq!((s(f.name), s(f.filename), leaf.line[0].line), ("inner", "src/a.rs", 7));
    assert_eq!(p.sample[1].location_id, vec![p.sample[0].location_id[1]]);
}

#[cfg(feature = "pprof")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_cpu_profile_of_the_requested_seconds() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config: PprofConfig = weir_core::testing::parse_config(&format!("{{endpoint: \"127.0.0.1:{port}\"}}")).unwrap();
    let ext = PprofFactory
        .build(&BuildContext::new(weir_core::component::ComponentId::parse("pprof").unwrap(), None), &config)
        .unwrap();
    let stop = CancellationToken::new();
    let ctx = ExtensionContext::default();
    let handle = ext.start(ctx, stop.clone()).await.unwrap();
    // Burn CPU while the profile records, so it has samples.
    let burn = std::thread::spawn(|| {
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < Duration::from_millis(1500) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        x
    });
    let body = get(port, "/debug/pprof/profile?seconds=1").await;
    burn.join().unwrap();
    let p = proto::Profile::decode(gunzip(&body).as_slice()).expect("valid profile.proto");
    assert!(!p.sample.is_empty(), "a busy second has samples");
    assert!(p.duration_nanos >= 1_000_000_000);
    let index = String::from_utf8(get(port, "/debug/pprof/").await).unwrap();
    assert!(index.contains("profile?seconds=30"));
    // A long profile does not hold the shutdown up.
    let long = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut s, b"GET /debug/pprof/profile?seconds=30 HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 64];
        let n = tokio::io::AsyncReadExt::read(&mut s, &mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.cancel();
    let head = tokio::time::timeout(Duration::from_secs(5), long).await.expect("answered at shutdown").unwrap();
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    tokio::time::timeout(Duration::from_secs(5), handle).await.expect("stopped promptly").unwrap();
}

#[cfg(feature = "pprof")]
async fn get(port: u16, path: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let body = &raw[split + 4..];
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    }
}

#[cfg(feature = "pprof")]
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + size]);
        b = &b[line_end + 4 + size..];
    }
}
