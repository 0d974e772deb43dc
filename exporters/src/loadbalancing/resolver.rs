//! Where the backends come from: a fixed list, a DNS name resolved again and again, or a
//! Kubernetes Service's EndpointSlices ([`super::k8s`]).
//!
//! Every resolver yields the backend list as the Collector's does: sorted strings, which the
//! ring is built from ([`super::ring`]). A resolution that fails keeps the last list.

use super::config::DnsResolver;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The Collector's port for backends given without one.
pub const DEFAULT_PORT: u16 = 4317;

/// `host:port` for an exporter: the Collector adds `:4317` to an endpoint without a colon.
pub fn endpoint_with_port(endpoint: &str) -> String {
    if endpoint.contains(':') {
        endpoint.to_string()
    } else {
        format!("{endpoint}:{DEFAULT_PORT}")
    }
}

/// The static resolver's list: the hostnames, sorted (so their order in the file does not
/// matter).
pub fn static_backends(hostnames: &[String]) -> Vec<String> {
    let mut v = hostnames.to_vec();
    v.sort();
    v
}

/// The backend strings of resolved addresses: `a.b.c.d` or `[v6]`, with `:port` when a port
/// is configured; sorted and without duplicates.
pub fn dns_backends(addrs: &[IpAddr], port: &str) -> Vec<String> {
    let mut v: Vec<String> = addrs
        .iter()
        .map(|ip| {
            let host = match ip {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => format!("[{a}]"),
            };
            if port.is_empty() {
                host
            } else {
                format!("{host}:{port}")
            }
        })
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Resolves `config.hostname` once: through the configured `nameservers`, or the system's
/// resolver.
pub async fn resolve_dns(config: &DnsResolver) -> Result<Vec<String>, String> {
    let lookup = async {
        if config.nameservers.is_empty() {
            let addrs = tokio::net::lookup_host((config.hostname.as_str(), 0))
                .await
                .map_err(|e| format!("resolving {}: {e}", config.hostname))?;
            Ok(addrs.map(|a| a.ip()).collect::<Vec<_>>())
        } else {
            let mut last_error = String::new();
            for ns in &config.nameservers {
                let ns: SocketAddr = ns.parse().map_err(|_| format!("{ns:?} is not ip:port"))?;
                match query_both(ns, &config.hostname).await {
                    Ok(ips) => return Ok(ips),
                    Err(e) => last_error = e,
                }
            }
            Err(last_error)
        }
    };
    let ips = tokio::time::timeout(config.timeout, lookup)
        .await
        .map_err(|_| format!("resolving {}: no answer within {:?}", config.hostname, config.timeout))??;
    if ips.is_empty() {
        return Err(format!("{} has no addresses", config.hostname));
    }
    Ok(dns_backends(&ips, &config.port))
}

/// The A and AAAA records of `name` from the server `ns`.
async fn query_both(ns: SocketAddr, name: &str) -> Result<Vec<IpAddr>, String> {
    let (a, aaaa) = tokio::join!(query(ns, name, TYPE_A), query(ns, name, TYPE_AAAA));
    merge_answers(name, a, aaaa)
}

/// The addresses of the A and AAAA answers. As Go's resolver (the Collector's), one query
/// failing is not an error when the other gave addresses: a server without upstreams (dnsmasq
/// with `--no-resolv`) refuses the AAAA question of a name it only has an A record for.
pub fn merge_answers(
    name: &str,
    a: Result<Answer, String>,
    aaaa: Result<Answer, String>,
) -> Result<Vec<IpAddr>, String> {
    let mut addrs = Vec::new();
    let mut error = None;
    let mut nxdomain = true;
    for answer in [a, aaaa] {
        match answer {
            Ok(answer) => {
                nxdomain &= answer.nxdomain;
                addrs.extend(answer.addrs);
            }
            Err(e) => {
                nxdomain = false;
                error.get_or_insert(e);
            }
        }
    }
    if !addrs.is_empty() {
        return Ok(addrs);
    }
    if let Some(e) = error {
        return Err(e);
    }
    if nxdomain {
        return Err(format!("{name}: no such host"));
    }
    Ok(addrs)
}

const TYPE_A: u16 = 1;
const TYPE_AAAA: u16 = 28;

/// One DNS answer.
#[derive(Debug, Default, PartialEq)]
pub struct Answer {
    pub addrs: Vec<IpAddr>,
    pub nxdomain: bool,
}

/// The question `name`/`qtype` as a DNS message with id `id`, recursion desired.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(name.len() + 18);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("{name:?} is not a valid DNS name"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

/// Skips a (possibly compressed) name at `i`; the index after it.
fn skip_name(msg: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let len = *msg.get(i)? as usize;
        if len == 0 {
            return Some(i + 1);
        }
        if len & 0xC0 == 0xC0 {
            return Some(i + 2);
        }
        i += 1 + len;
    }
}

/// The addresses in the answer section of `msg`, a reply to query `id`.
pub fn decode_answer(msg: &[u8], id: u16) -> Result<Answer, String> {
    let bad = || "malformed DNS reply".to_string();
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id {
        return Err(bad());
    }
    let rcode = msg[3] & 0x0F;
    if rcode == 3 {
        return Ok(Answer { addrs: Vec::new(), nxdomain: true });
    }
    if rcode != 0 {
        return Err(format!("the DNS server answered with rcode {rcode}"));
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]) as usize;
    let an = u16::from_be_bytes([msg[6], msg[7]]) as usize;
    let mut i = 12;
    for _ in 0..qd {
        i = skip_name(msg, i).ok_or_else(bad)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        i = skip_name(msg, i).ok_or_else(bad)?;
        let h = msg.get(i..i + 10).ok_or_else(bad)?;
        let rtype = u16::from_be_bytes([h[0], h[1]]);
        let rdlen = u16::from_be_bytes([h[8], h[9]]) as usize;
        let rdata = msg.get(i + 10..i + 10 + rdlen).ok_or_else(bad)?;
        match (rtype, rdlen) {
            (TYPE_A, 4) => addrs.push(IpAddr::from(<[u8; 4]>::try_from(rdata).map_err(|_| bad())?)),
            (TYPE_AAAA, 16) => addrs.push(IpAddr::from(<[u8; 16]>::try_from(rdata).map_err(|_| bad())?)),
            _ => {}
        }
        i += 10 + rdlen;
    }
    Ok(Answer { addrs, nxdomain: false })
}

/// One UDP query (retried once on silence).
async fn query(ns: SocketAddr, name: &str, qtype: u16) -> Result<Answer, String> {
    let bind: SocketAddr = if ns.is_ipv4() { ([0, 0, 0, 0], 0).into() } else { ([0u16; 8], 0).into() };
    let socket = tokio::net::UdpSocket::bind(bind).await.map_err(|e| format!("DNS socket: {e}"))?;
    socket.connect(ns).await.map_err(|e| format!("DNS server {ns}: {e}"))?;
    let id: u16 = rand::random();
    let q = encode_query(id, name, qtype)?;
    let mut buf = vec![0u8; 4096];
    for _ in 0..2 {
        socket.send(&q).await.map_err(|e| format!("DNS server {ns}: {e}"))?;
        match tokio::time::timeout(Duration::from_millis(400), socket.recv(&mut buf)).await {
            Ok(Ok(n)) => return decode_answer(&buf[..n], id),
            Ok(Err(e)) => return Err(format!("DNS server {ns}: {e}")),
            Err(_) => continue,
        }
    }
    Err(format!("DNS server {ns} did not answer"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_backends_follow_the_collectors_format_and_order() {
        let ips: Vec<IpAddr> = vec!["127.0.0.2".parse().unwrap(), "::1".parse().unwrap(), "127.0.0.1".parse().unwrap()];
        assert_eq!(dns_backends(&ips, ""), ["127.0.0.1", "127.0.0.2", "[::1]"]);
        assert_eq!(dns_backends(&ips, "55690"), ["127.0.0.1:55690", "127.0.0.2:55690", "[::1]:55690"]);
    }

    #[test]
    fn static_backends_are_sorted_and_exporters_get_the_default_port() {
        let got = static_backends(&["b:4317".into(), "a".into()]);
        assert_eq!(got, ["a", "b:4317"]);
        assert_eq!(endpoint_with_port("a"), "a:4317");
        assert_eq!(endpoint_with_port("[::1]:55690"), "[::1]:55690");
    }

    #[test]
    fn one_refused_question_does_not_hide_the_other_answers_addresses() {
        let v4 = || Ok(Answer { addrs: vec!["127.0.0.2".parse().unwrap()], nxdomain: false });
        let refused = || Err("the DNS server answered with rcode 5".to_string());
        let nx = || Ok(Answer { addrs: Vec::new(), nxdomain: true });
        assert_eq!(merge_answers("gw", v4(), refused()).unwrap(), ["127.0.0.2".parse::<IpAddr>().unwrap()]);
        assert_eq!(merge_answers("gw", refused(), v4()).unwrap().len(), 1);
        assert!(merge_answers("gw", refused(), nx()).unwrap_err().contains("rcode 5"));
        assert!(merge_answers("gw", nx(), nx()).unwrap_err().contains("no such host"));
    }

    #[test]
    fn a_reply_with_compressed_names_is_read() {
        let q = encode_query(0x1234, "gw.test", TYPE_A).unwrap();
        let mut reply = q.clone();
        reply[2] = 0x81;
        reply[3] = 0x80;
        reply[7] = 2; // two answers
        for last in [2u8, 3] {
            reply.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, last]);
        }
        let a = decode_answer(&reply, 0x1234).unwrap();
        assert_eq!(a.addrs, ["127.0.0.2".parse::<IpAddr>().unwrap(), "127.0.0.3".parse().unwrap()]);
        assert!(decode_answer(&reply, 0x9999).is_err(), "another query's reply");
        reply[3] = 0x83;
        assert!(decode_answer(&reply, 0x1234).unwrap().nxdomain);
    }
}
