//! The detectors that read this machine: `env`, `system`, `docker`, and the ones that read
//! only environment variables or files (`lambda`, `heroku`, `elastic_beanstalk`). What each
//! sets, and when it sets nothing, follows the Collector's detector of the same name.

use super::config::{enabled_attributes, ResourceAttributes, SystemConfig};
use super::http;
use super::{Attributes, Host, Value};
use std::collections::BTreeSet;

/// Collects a detector's attributes, keeping only the enabled ones (each detector's generated
/// `ResourceBuilder` in the Collector).
pub(crate) struct Builder {
    enabled: BTreeSet<&'static str>,
    pub(crate) out: Attributes,
}

impl Builder {
    pub(crate) fn new(detector: &str, overrides: &ResourceAttributes) -> Builder {
        Builder { enabled: enabled_attributes(detector, overrides).into_iter().collect(), out: Vec::new() }
    }

    pub(crate) fn enabled(&self, name: &str) -> bool {
        self.enabled.contains(name)
    }

    pub(crate) fn str(&mut self, name: &str, value: impl Into<String>) {
        if self.enabled(name) {
            self.out.push((name.to_string(), Value::Str(value.into())));
        }
    }

    pub(crate) fn int(&mut self, name: &str, value: i64) {
        if self.enabled(name) {
            self.out.push((name.to_string(), Value::Int(value)));
        }
    }

    pub(crate) fn strs(&mut self, name: &str, value: Vec<String>) {
        if self.enabled(name) {
            self.out.push((name.to_string(), Value::Strs(value)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// env

/// `env`: `OTEL_RESOURCE_ATTRIBUTES` (or the older `OTEL_RESOURCE`): `key=value` pairs separated
/// by commas, values percent-decoded as a URL query (`+` is a space); a malformed value makes
/// the detector fail (and contribute nothing), as in the Collector.
pub(crate) fn detect_env(host: &Host) -> Result<Attributes, String> {
    let mut labels = host.var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default().trim().to_string();
    if labels.is_empty() {
        labels = host.var("OTEL_RESOURCE").unwrap_or_default().trim().to_string();
        if labels.is_empty() {
            return Ok(Vec::new());
        }
    }
    parse_resource_attributes(&labels)
}

/// Parses `k1=v1,k2=v2` as the Collector's `env` detector does: pairs of up to 256 ASCII
/// characters of key and of value, spaces around them trimmed, separated by commas; text
/// between or after pairs that is not a pair is an error.
pub(crate) fn parse_resource_attributes(s: &str) -> Result<Attributes, String> {
    static PAIR: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pair = PAIR.get_or_init(|| {
        regex::Regex::new(r"\s*([[:ascii:]]{1,256}?)\s*=\s*([[:ascii:]]{0,256}?)\s*(?:,|$)")
            .expect("the pattern is a valid regular expression")
    });
    let mut out: Attributes = Vec::new();
    let mut prev = 0;
    let mut any = false;
    for m in pair.captures_iter(s) {
        any = true;
        let whole = m.get(0).expect("group 0 always matches");
        if whole.start() != prev {
            return Err(format!("invalid resource format, invalid text: {:?}", &s[prev..whole.start()]));
        }
        let key = &m[1];
        let decoded = query_unescape(&m[2])
            .map_err(|e| format!("invalid resource format in attribute: {:?}, err: {e}", whole.as_str()))?;
        out.retain(|(k, _)| k != key);
        out.push((key.to_string(), Value::Str(decoded)));
        prev = whole.end();
    }
    if !any {
        return Err(format!("invalid resource format: {s:?}"));
    }
    if prev != s.len() {
        return Err(format!("invalid resource format, invalid text: {:?}", &s[prev..]));
    }
    Ok(out)
}

/// Go's `url.QueryUnescape`: `%XX` is a byte, `+` a space; a bad escape is an error.
pub(crate) fn query_unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = b.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
                let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
                match byte {
                    Some(v) if hex.is_some_and(|h| h.bytes().all(|c| c.is_ascii_hexdigit())) => out.push(v),
                    _ => {
                        let end = (i + 3).min(b.len());
                        return Err(format!("invalid URL escape {:?}", &s[i..end]));
                    }
                }
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "the decoded value is not UTF-8".to_string())
}

// ---------------------------------------------------------------------------------------------
// system

/// `os.type` as the Collector names `GOOS` values.
pub(crate) fn os_type() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// `host.arch` as the Collector maps `GOARCH` values to the semantic conventions.
pub(crate) fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "x86",
        "arm" => "arm32",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        other => other,
    }
}

/// The kernel's hostname, as Go's `os.Hostname` reads it on Linux.
pub(crate) fn os_hostname() -> Result<String, String> {
    match std::fs::read_to_string("/proc/sys/kernel/hostname") {
        Ok(h) if !h.trim().is_empty() => Ok(h.trim().to_string()),
        _ => uname().map(|u| u.nodename).map_err(|e| format!("failed getting OS hostname: {e}")),
    }
}

/// The fields of `uname(2)`.
pub(crate) struct Uname {
    pub sysname: String,
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
}

pub(crate) fn uname() -> Result<Uname, String> {
    // SAFETY: `utsname` is plain old data; `uname` fills it and returns 0 on success.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(std::io::Error::last_os_error().to_string());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f.iter().take_while(|c| **c != 0).map(|c| *c as u8).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Uname {
        sysname: field(&u.sysname),
        nodename: field(&u.nodename),
        release: field(&u.release),
        version: field(&u.version),
        machine: field(&u.machine),
    })
}

/// `KEY=value` lines of an os-release file, values unquoted and unescaped.
pub(crate) fn parse_os_release(text: &str) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let mut v = v.trim();
        if v.len() >= 2 && (v.starts_with('"') || v.starts_with('\'')) && v.ends_with(&v[..1]) {
            v = &v[1..v.len() - 1];
        }
        let v =
            v.replace("\\$", "$").replace("\\\"", "\"").replace("\\'", "'").replace("\\\\", "\\").replace("\\`", "`");
        out.insert(k.trim().to_string(), v);
    }
    out
}

/// The OpenTelemetry SDK's `os.description`: `NAME VERSION` from os-release (else its
/// `PRETTY_NAME`), then the `uname` fields in parentheses.
pub(crate) fn os_description(os_release: Option<&str>, u: &Uname) -> String {
    let uname = format!("{} {} {} {} {}", u.sysname, u.nodename, u.release, u.version, u.machine);
    let release = os_release.map(parse_os_release).map(|v| {
        let name = v.get("NAME").cloned().unwrap_or_default();
        let version = v.get("VERSION").filter(|s| !s.is_empty()).or(v.get("VERSION_ID")).cloned().unwrap_or_default();
        if !name.is_empty() && !version.is_empty() {
            format!("{name} {version}")
        } else {
            v.get("PRETTY_NAME").cloned().unwrap_or_default()
        }
    });
    match release {
        Some(r) if !r.is_empty() => format!("{r} ({uname})"),
        _ => uname,
    }
}

fn read_os_release() -> Option<String> {
    std::fs::read_to_string("/etc/os-release").or_else(|_| std::fs::read_to_string("/usr/lib/os-release")).ok()
}

/// `host.id`: the machine id, from `/etc/machine-id` or `/var/lib/dbus/machine-id`.
pub(crate) fn machine_id(paths: &[std::path::PathBuf]) -> Result<String, String> {
    for p in paths {
        if let Ok(s) = std::fs::read_to_string(p) {
            if !s.trim().is_empty() {
                return Ok(s.trim().to_string());
            }
        }
    }
    Err("failed to obtain \"host.id\": no machine id in /etc/machine-id or /var/lib/dbus/machine-id".into())
}

/// The first processor of `/proc/cpuinfo`: vendor, family, model, model name, stepping and
/// the cache size in KB.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct CpuInfo {
    pub vendor_id: String,
    pub family: String,
    pub model: String,
    pub model_name: String,
    pub stepping: i64,
    pub cache_size: i64,
}

pub(crate) fn parse_cpuinfo(text: &str) -> Option<CpuInfo> {
    let first = text.split("\n\n").find(|b| !b.trim().is_empty())?;
    let mut c = CpuInfo::default();
    for line in first.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        let v = v.trim();
        match k.trim() {
            "vendor_id" | "CPU implementer" => c.vendor_id = v.to_string(),
            "cpu family" | "CPU architecture" => c.family = v.to_string(),
            "model" | "CPU variant" => c.model = v.to_string(),
            "model name" => c.model_name = v.to_string(),
            "stepping" | "CPU revision" => c.stepping = v.parse().unwrap_or(0),
            "cache size" => c.cache_size = v.trim_end_matches("KB").trim().parse().unwrap_or(0),
            _ => {}
        }
    }
    Some(c)
}

/// The fully qualified name, as the Collector's `dns` source (`go-fqdn`): the first name of the
/// `/etc/hosts` line that lists the hostname, else the resolver's canonical name.
pub(crate) fn fqdn(hostname: &str, etc_hosts: Option<&str>) -> Result<String, String> {
    if let Some(hosts) = etc_hosts {
        for line in hosts.lines() {
            let line = line.split('#').next().unwrap_or("");
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() >= 2 && fields[1..].contains(&hostname) {
                return Ok(fields[1].trim_end_matches('.').to_string());
            }
        }
    }
    canonical_name(hostname).map_err(|e| format!("getFQDN failed getting FQDN: {e}"))
}

/// The resolver's canonical name of `host` (`getaddrinfo` with `AI_CANONNAME`).
pub(crate) fn canonical_name(host: &str) -> Result<String, String> {
    let c = std::ffi::CString::new(host).map_err(|e| e.to_string())?;
    // SAFETY: hints is zeroed plain data; `getaddrinfo` allocates `res`, freed below.
    unsafe {
        let mut hints: libc::addrinfo = std::mem::zeroed();
        hints.ai_flags = libc::AI_CANONNAME;
        let mut res: *mut libc::addrinfo = std::ptr::null_mut();
        let rc = libc::getaddrinfo(c.as_ptr(), std::ptr::null(), &hints, &mut res);
        if rc != 0 || res.is_null() {
            return Err(format!("no address for {host:?}"));
        }
        let name = if (*res).ai_canonname.is_null() {
            None
        } else {
            Some(std::ffi::CStr::from_ptr((*res).ai_canonname).to_string_lossy().into_owned())
        };
        libc::freeaddrinfo(res);
        name.map(|n| n.trim_end_matches('.').to_string()).ok_or_else(|| format!("no canonical name for {host:?}"))
    }
}

/// The first name reverse DNS gives for one of `host`'s addresses.
pub(crate) fn reverse_lookup(host: &str) -> Result<String, String> {
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
        .map_err(|e| format!("reverseLookupHost failed to lookup host: {e}"))?
        .collect();
    for addr in addrs {
        let (storage, len) = sockaddr(&addr);
        let mut name = [0 as libc::c_char; 1025];
        // SAFETY: `storage` holds a valid sockaddr of `len` bytes; `name` is writable.
        let rc = unsafe {
            libc::getnameinfo(
                &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
                len,
                name.as_mut_ptr(),
                name.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NAMEREQD,
            )
        };
        if rc == 0 {
            // SAFETY: getnameinfo wrote a NUL-terminated string.
            let s = unsafe { std::ffi::CStr::from_ptr(name.as_ptr()) }.to_string_lossy().into_owned();
            return Ok(s.trim_end_matches('.').to_string());
        }
    }
    Err("reverseLookupHost failed to lookup host: no name for any address".into())
}

fn sockaddr(addr: &std::net::SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: zeroed sockaddr_storage is valid; we write the matching family's struct into it.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        std::net::SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(a.ip().octets()) },
                sin_zero: [0; 8],
            };
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
            (storage, std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t)
        }
        std::net::SocketAddr::V6(a) => {
            // SAFETY: as above.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr = libc::in6_addr { s6_addr: a.ip().octets() };
            unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
            (storage, std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t)
        }
    }
}

/// The addresses of the interfaces that are up and not loopback (`host.ip`).
pub(crate) fn host_ips() -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    // SAFETY: getifaddrs allocates a list freed with freeifaddrs; we only read it.
    unsafe {
        let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
        if libc::getifaddrs(&mut list) != 0 {
            return Err(format!("failed getting host IP addresses: {}", std::io::Error::last_os_error()));
        }
        let mut cur = list;
        while !cur.is_null() {
            let ifa = &*cur;
            let flags = ifa.ifa_flags as libc::c_int;
            if flags & libc::IFF_UP != 0 && flags & libc::IFF_LOOPBACK == 0 && !ifa.ifa_addr.is_null() {
                match (*ifa.ifa_addr).sa_family as libc::c_int {
                    libc::AF_INET => {
                        let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        out.push(std::net::Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()).to_string());
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        out.push(std::net::Ipv6Addr::from(sin6.sin6_addr.s6_addr).to_string());
                    }
                    _ => {}
                }
            }
            cur = ifa.ifa_next;
        }
        libc::freeifaddrs(list);
    }
    Ok(out)
}

/// The hardware addresses of the interfaces that are not loopback, in the IEEE RA form
/// (`AA-BB-CC-DD-EE-FF`) the Collector writes (`host.mac`).
pub(crate) fn host_macs() -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let dir = std::fs::read_dir("/sys/class/net").map_err(|e| format!("failed to get host MAC addresses: {e}"))?;
    let mut names: Vec<_> = dir.flatten().map(|e| e.path()).collect();
    names.sort();
    for p in names {
        let mac = std::fs::read_to_string(p.join("address")).unwrap_or_default();
        let mac = mac.trim();
        let loopback = std::fs::read_to_string(p.join("type")).map(|t| t.trim() == "772").unwrap_or(false);
        if mac.is_empty() || loopback || mac == "00:00:00:00:00:00" {
            continue;
        }
        out.push(mac.replace(':', "-").to_uppercase());
    }
    Ok(out)
}

/// `system`: host and OS facts; `host.name` from the first `hostname_sources` entry that
/// answers (all failing is a detection failure, as in the Collector).
pub(crate) async fn detect_system(c: &SystemConfig, host: &Host) -> Result<Attributes, String> {
    let mut b = Builder::new("system", &c.resource_attributes);
    let sources: Vec<String> =
        if c.hostname_sources.is_empty() { vec!["dns".into(), "os".into()] } else { c.hostname_sources.clone() };
    let ips = if b.enabled("host.ip") { Some(host_ips()?) } else { None };
    let macs = if b.enabled("host.mac") { Some(host_macs()?) } else { None };
    let u = uname().map_err(|e| format!("failed getting OS description: {e}"))?;
    let description = os_description(read_os_release().as_deref(), &u);
    let os_release = read_os_release().map(|t| parse_os_release(&t)).unwrap_or_default();
    let cpu = if [
        "host.cpu.vendor.id",
        "host.cpu.family",
        "host.cpu.model.id",
        "host.cpu.model.name",
        "host.cpu.stepping",
        "host.cpu.cache.l2.size",
    ]
    .iter()
    .any(|a| b.enabled(a))
    {
        let text = std::fs::read_to_string("/proc/cpuinfo").map_err(|e| format!("failed getting host cpuinfo: {e}"))?;
        parse_cpuinfo(&text)
    } else {
        None
    };
    let mut hostname = None;
    for source in &sources {
        let source = source.clone();
        let got = tokio::task::spawn_blocking(move || -> Result<String, String> {
            let h = os_hostname()?;
            match source.as_str() {
                "os" => Ok(h),
                "dns" => fqdn(&h, std::fs::read_to_string("/etc/hosts").ok().as_deref()),
                "cname" => canonical_name(&h).map_err(|e| format!("lookupCNAME failed to get CNAME: {e}")),
                _ => reverse_lookup(&h),
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        match got {
            Ok(h) => {
                hostname = Some(h);
                break;
            }
            Err(e) => tracing::debug!(message = "A hostname source failed.", error = %e),
        }
    }
    let Some(hostname) = hostname else { return Err("all hostname sources failed to get hostname".into()) };
    b.str("host.name", hostname);
    b.str("os.type", os_type());
    b.str("os.version", os_release.get("VERSION_ID").cloned().unwrap_or_default());
    if b.enabled("host.id") {
        match machine_id(&host.machine_id_paths) {
            Ok(id) => b.str("host.id", id),
            Err(error) => tracing::warn!(message = "failed to get host ID", %error),
        }
    }
    b.str("host.arch", host_arch());
    if let Some(ips) = ips {
        b.strs("host.ip", ips);
    }
    if let Some(macs) = macs {
        b.strs("host.mac", macs);
    }
    b.str("os.description", description);
    if let Some(cpu) = cpu {
        b.str("host.cpu.vendor.id", cpu.vendor_id);
        b.str("host.cpu.family", cpu.family);
        if !cpu.model.is_empty() {
            b.str("host.cpu.model.id", cpu.model);
        }
        b.str("host.cpu.model.name", cpu.model_name);
        b.str("host.cpu.stepping", cpu.stepping.to_string());
        b.int("host.cpu.cache.l2.size", cpu.cache_size);
    }
    Ok(b.out)
}

// ---------------------------------------------------------------------------------------------
// docker

/// `docker`: the Docker Engine's `GET /info` over its socket (`DOCKER_HOST` when it names a
/// `unix://` socket, else `/var/run/docker.sock`): `host.name` is the daemon host's name,
/// `os.type` its OS type. Without a daemon the request fails, and the detector is retried
/// until `timeout`, then contributes nothing (as in the Collector).
pub(crate) async fn detect_docker(overrides: &ResourceAttributes, host: &Host) -> Result<Attributes, String> {
    let socket = host
        .var("DOCKER_HOST")
        .and_then(|h| h.strip_prefix("unix://").map(str::to_string))
        .unwrap_or_else(|| host.docker_socket.clone());
    let body = http::unix_get(&socket, "/info").await.map_err(|e| format!("failed getting OS type: {e}"))?;
    let info: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| format!("failed getting OS type: the daemon's /info is not JSON: {e}"))?;
    let mut b = Builder::new("docker", overrides);
    b.str("host.name", info["Name"].as_str().unwrap_or_default());
    b.str("os.type", info["OSType"].as_str().unwrap_or_default());
    Ok(b.out)
}

// ---------------------------------------------------------------------------------------------
// lambda, heroku, elasticbeanstalk: environment variables and files

/// `lambda`: the Lambda runtime's environment variables; outside Lambda nothing.
pub(crate) fn detect_lambda(overrides: &ResourceAttributes, host: &Host) -> Attributes {
    let Some(function) = host.var("AWS_LAMBDA_FUNCTION_NAME").filter(|f| !f.is_empty()) else {
        tracing::debug!(message = "Unable to identify AWS Lambda environment");
        return Vec::new();
    };
    let mut b = Builder::new("lambda", overrides);
    b.str("cloud.provider", "aws");
    b.str("cloud.platform", "aws_lambda");
    if let Some(v) = host.var("AWS_REGION") {
        b.str("cloud.region", v);
    }
    b.str("faas.name", function);
    if let Some(v) = host.var("AWS_LAMBDA_FUNCTION_VERSION") {
        b.str("faas.version", v);
    }
    if let Some(v) = host.var("AWS_LAMBDA_LOG_STREAM_NAME") {
        b.str("faas.instance", v);
    }
    if let Some(v) = host.var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE") {
        b.str("faas.max_memory", v);
    }
    if let Some(v) = host.var("AWS_LAMBDA_LOG_GROUP_NAME") {
        b.strs("aws.log.group.names", vec![v]);
    }
    if let Some(v) = host.var("AWS_LAMBDA_LOG_STREAM_NAME") {
        b.strs("aws.log.stream.names", vec![v]);
    }
    b.out
}

/// `heroku`: the dyno metadata environment variables.
pub(crate) fn detect_heroku(overrides: &ResourceAttributes, host: &Host) -> Attributes {
    let mut b = Builder::new("heroku", overrides);
    if let Some(v) = host.var("HEROKU_DYNO_ID") {
        b.str("service.instance.id", v);
    }
    let app = host.var("HEROKU_APP_ID");
    if let Some(v) = &app {
        b.str("heroku.app.id", v.clone());
    }
    if host.var("HEROKU_DYNO_ID").is_none() {
        tracing::debug!(message = "Heroku metadata is missing. Please check metadata is enabled.");
    }
    if app.is_some() {
        b.str("cloud.provider", "heroku");
    }
    if let Some(v) = host.var("HEROKU_APP_NAME") {
        b.str("service.name", v);
    }
    if let Some(v) = host.var("HEROKU_RELEASE_CREATED_AT") {
        b.str("heroku.release.creation_timestamp", v);
    }
    if let Some(v) = host.var("HEROKU_RELEASE_VERSION") {
        b.str("service.version", v);
    }
    if let Some(v) = host.var("HEROKU_SLUG_COMMIT") {
        b.str("heroku.release.commit", v);
    }
    b.out
}

/// `elastic_beanstalk`: `/var/elasticbeanstalk/xray/environment.conf`; without it nothing.
pub(crate) fn detect_elasticbeanstalk(overrides: &ResourceAttributes, host: &Host) -> Result<Attributes, String> {
    let Ok(text) = std::fs::read(&host.beanstalk_conf) else { return Ok(Vec::new()) };
    let conf: serde_json::Value = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
    let mut b = Builder::new("elastic_beanstalk", overrides);
    b.str("cloud.provider", "aws");
    b.str("cloud.platform", "aws_elastic_beanstalk");
    b.str("deployment.environment", conf["environment_name"].as_str().unwrap_or_default());
    let id = match &conf["deployment_id"] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    b.str("service.instance.id", id);
    b.str("service.version", conf["version_label"].as_str().unwrap_or_default());
    Ok(b.out)
}
