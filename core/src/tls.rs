//! TLS settings shared by every server and client: the Collector's `tls` keys (`configtls`),
//! loaded from PEM files into `rustls` configurations.
//!
//! - [`TlsServerSettings`] (`receivers::otlp::protocols::grpc::tls`, `…::http::tls`): the
//!   server's certificate and key, and with `client_ca_file` mutual TLS — every client must
//!   present a certificate signed by that CA or the handshake fails.
//! - [`TlsClientSettings`] (`exporters::otlp::tls`, …): whom to trust (`ca_file`, or the
//!   system's roots), an optional client certificate for mTLS, `server_name_override`,
//!   `insecure` (plaintext) and `insecure_skip_verify`.
//!
//! Design:
//!
//! - **One crypto provider, chosen here.** Everything uses rustls with `ring` (no cmake, no
//!   C toolchain beyond `cc`); TLS 1.2 and 1.3, `min_version` 1.2 by default as the Collector.
//! - **Files are read when the component starts, as in the Collector.** Loading a
//!   configuration checks what it can without touching the files ([`TlsServerSettings::check`],
//!   [`TlsClientSettings::check`]: versions, which keys must come together), so a config naming
//!   certificates that exist only where it will run still loads and validates — the Collector's
//!   own test configs do exactly that. The files are read when the component is built (at
//!   start and at every reload): a missing file, a file without a PEM certificate or key, or a
//!   key that does not belong to the certificate fails the start with an error naming the key
//!   and the file — never a server that starts and fails every handshake. A SIGHUP reload
//!   whose files are bad leaves the running graph untouched; a reload picks up rotated
//!   certificates.
//! - **No silent downgrade.** A server with `tls` serves only TLS; a plaintext client fails
//!   its handshake.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme, SupportedProtocolVersion,
};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// ALPN of HTTP/2, which gRPC requires.
pub const ALPN_H2: &[u8] = b"h2";
/// ALPN of HTTP/1.1.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A TLS setting that cannot be used, naming the key and, for files, the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tls::{key}: {message}")]
pub struct TlsError {
    /// The key under `tls` the user must change (`cert_file`, `min_version`, …).
    pub key: &'static str,
    pub message: String,
}

impl TlsError {
    fn new(key: &'static str, message: impl Into<String>) -> Self {
        TlsError { key, message: message.into() }
    }
}

/// `min_version` / `max_version`: `"1.2"` or `"1.3"` (TLS 1.0 and 1.1 are not offered).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum TlsVersion {
    #[serde(rename = "1.2")]
    Tls12,
    #[serde(rename = "1.3")]
    Tls13,
}

/// The protocol versions between `min` and `max` (defaults 1.2 and 1.3).
fn versions(
    min: Option<TlsVersion>,
    max: Option<TlsVersion>,
) -> Result<Vec<&'static SupportedProtocolVersion>, TlsError> {
    let min = min.unwrap_or(TlsVersion::Tls12);
    let max = max.unwrap_or(TlsVersion::Tls13);
    if min > max {
        return Err(TlsError::new("min_version", "must not be greater than max_version"));
    }
    let mut out = Vec::new();
    if min <= TlsVersion::Tls12 {
        out.push(&rustls::version::TLS12);
    }
    if max >= TlsVersion::Tls13 {
        out.push(&rustls::version::TLS13);
    }
    Ok(out)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `tls` of a server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsServerSettings {
    /// PEM file with the server's certificate chain (leaf first). Required.
    pub cert_file: PathBuf,
    /// PEM file with the private key of `cert_file` (PKCS#8, PKCS#1 or SEC1). Required.
    pub key_file: PathBuf,
    /// PEM file with the CA certificates that sign client certificates. Set, it turns on
    /// mutual TLS: a client without a certificate signed by one of them is refused during the
    /// handshake.
    pub client_ca_file: Option<PathBuf>,
    /// PEM file of CA certificates. Accepted because the Collector's server `tls` has it (it
    /// fills the root pool, which a server does not use to check clients): weir reads it at
    /// start, so a missing or malformed file is an error as in the Collector, and otherwise
    /// ignores it. Clients are checked against `client_ca_file`.
    pub ca_file: Option<PathBuf>,
    /// Lowest TLS version accepted: `"1.2"` (default) or `"1.3"`.
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version accepted: `"1.2"` or `"1.3"` (default).
    pub max_version: Option<TlsVersion>,
}

impl TlsServerSettings {
    /// Checks the settings without reading any file (when the configuration is loaded).
    pub fn check(&self) -> Result<(), TlsError> {
        if self.cert_file.as_os_str().is_empty() {
            return Err(TlsError::new("cert_file", "must be set: the PEM file with the server's certificate"));
        }
        if self.key_file.as_os_str().is_empty() {
            return Err(TlsError::new("key_file", "must be set: the PEM file with the server's private key"));
        }
        versions(self.min_version, self.max_version).map(|_| ())
    }

    /// The files these settings read when the component starts, by key.
    pub fn files(&self) -> Vec<(&'static str, PathBuf)> {
        let mut out = vec![("cert_file", self.cert_file.clone()), ("key_file", self.key_file.clone())];
        out.extend(self.client_ca_file.clone().map(|f| ("client_ca_file", f)));
        out.extend(self.ca_file.clone().map(|f| ("ca_file", f)));
        out
    }

    /// Reads the files and builds the server configuration, offering `alpn` protocols.
    pub fn server_config(&self, alpn: &[&[u8]]) -> Result<Arc<ServerConfig>, TlsError> {
        self.check()?;
        let provider = provider();
        let certs = read_certificates("cert_file", &self.cert_file)?;
        let key = read_private_key("key_file", &self.key_file)?;
        if let Some(path) = &self.ca_file {
            root_store("ca_file", path)?;
        }
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions(self.min_version, self.max_version)?)
            .map_err(|e| TlsError::new("min_version", e.to_string()))?;
        let builder = match &self.client_ca_file {
            Some(path) => {
                let roots = root_store("client_ca_file", path)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| TlsError::new("client_ca_file", format!("{}: {e}", path.display())))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_single_cert(certs, key).map_err(|e| key_mismatch(&self.key_file, e))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

/// `tls` of a client. Absent, or with `insecure: true`, the connection is plaintext.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsClientSettings {
    /// Plaintext: no TLS at all (the Collector's meaning for gRPC clients). Default false.
    pub insecure: bool,
    /// Encrypt but accept any server certificate. For tests only: it gives up the server's
    /// authentication. Default false.
    pub insecure_skip_verify: bool,
    /// PEM file with the CA certificates the server's certificate must chain to. Default: the
    /// system's trusted roots.
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate presented to servers that ask (mutual TLS); needs
    /// `key_file`.
    pub cert_file: Option<PathBuf>,
    /// PEM file with the private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// The name the server's certificate is checked against (and sent as SNI), instead of the
    /// endpoint's host.
    pub server_name_override: Option<String>,
    /// Lowest TLS version offered: `"1.2"` (default) or `"1.3"`.
    pub min_version: Option<TlsVersion>,
    /// Highest TLS version offered: `"1.2"` or `"1.3"` (default).
    pub max_version: Option<TlsVersion>,
}

impl TlsClientSettings {
    /// Checks the settings without reading any file (when the configuration is loaded).
    pub fn check(&self) -> Result<(), TlsError> {
        if self.insecure {
            return Ok(());
        }
        versions(self.min_version, self.max_version)?;
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => Err(TlsError::new("key_file", "must be set when cert_file is")),
            (None, Some(_)) => Err(TlsError::new("cert_file", "must be set when key_file is")),
            _ => Ok(()),
        }
    }

    /// The files these settings read when the component starts, by key (none when `insecure`).
    pub fn files(&self) -> Vec<(&'static str, PathBuf)> {
        if self.insecure {
            return Vec::new();
        }
        [("ca_file", &self.ca_file), ("cert_file", &self.cert_file), ("key_file", &self.key_file)]
            .into_iter()
            .filter_map(|(k, f)| f.clone().map(|f| (k, f)))
            .collect()
    }

    /// Reads the files and builds the client configuration offering `alpn`; `None` when
    /// `insecure` (plaintext).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<Option<Arc<ClientConfig>>, TlsError> {
        if self.insecure {
            return Ok(None);
        }
        self.check()?;
        let provider = provider();
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions(self.min_version, self.max_version)?)
            .map_err(|e| TlsError::new("min_version", e.to_string()))?;
        let builder = if self.insecure_skip_verify {
            builder.dangerous().with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate(provider)))
        } else {
            let roots = match &self.ca_file {
                Some(path) => root_store("ca_file", path)?,
                None => system_roots()?,
            };
            builder.with_root_certificates(roots)
        };
        let mut config = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let certs = read_certificates("cert_file", cert)?;
                let private_key = read_private_key("key_file", key)?;
                builder.with_client_auth_cert(certs, private_key).map_err(|e| key_mismatch(key, e))?
            }
            (None, None) => builder.with_no_client_auth(),
            (Some(_), None) => return Err(TlsError::new("key_file", "must be set when cert_file is")),
            (None, Some(_)) => return Err(TlsError::new("cert_file", "must be set when key_file is")),
        };
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Some(Arc::new(config)))
    }

    /// The name to verify the server's certificate against: `server_name_override`, else
    /// `host`.
    pub fn server_name(&self, host: &str) -> Result<ServerName<'static>, TlsError> {
        let name = self.server_name_override.as_deref().unwrap_or(host);
        // An IPv6 host comes bracketed in a URI.
        let name = name.trim_start_matches('[').trim_end_matches(']');
        ServerName::try_from(name.to_string()).map_err(|e| {
            TlsError::new("server_name_override", format!("{name:?} is not a DNS name or IP address: {e}"))
        })
    }
}

/// The largest PEM file read: certificate bundles are kilobytes; this bounds what a mistyped
/// path (`/dev/zero`, a log file) can cost.
const MAX_PEM_FILE: u64 = 4 << 20;

fn read_file(key: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    let cannot = |e: std::io::Error| TlsError::new(key, format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(TlsError::new(key, format!("{} is not a regular file", path.display())));
    }
    let mut pem = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(file, MAX_PEM_FILE + 1), &mut pem).map_err(cannot)?;
    if pem.len() as u64 > MAX_PEM_FILE {
        return Err(TlsError::new(
            key,
            format!("{} is larger than {MAX_PEM_FILE} bytes: not a PEM file", path.display()),
        ));
    }
    Ok(pem)
}

/// Every certificate in a PEM file; at least one.
fn read_certificates(key: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(key, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::new(key, format!("{}: not a valid PEM file: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError::new(
            key,
            format!("{}: no certificate found (expected a PEM \"BEGIN CERTIFICATE\" block)", path.display()),
        ));
    }
    Ok(certs)
}

/// The first private key in a PEM file.
fn read_private_key(key: &'static str, path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(key, path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| {
        TlsError::new(
            key,
            format!("{}: no private key found (expected a PEM \"BEGIN PRIVATE KEY\" block): {e}", path.display()),
        )
    })
}

/// The CA certificates of a PEM file as trust anchors.
fn root_store(key: &'static str, path: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(key, path)? {
        roots
            .add(cert)
            .map_err(|e| TlsError::new(key, format!("{}: not a usable CA certificate: {e}", path.display())))?;
    }
    Ok(roots)
}

/// The operating system's trusted roots.
fn system_roots() -> Result<RootCertStore, TlsError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TlsError::new(
            "ca_file",
            "no trusted root certificates found on this system; set ca_file (or install ca-certificates)",
        ));
    }
    Ok(roots)
}

fn key_mismatch(key_file: &Path, e: rustls::Error) -> TlsError {
    match e {
        rustls::Error::InconsistentKeys(_) => TlsError::new(
            "key_file",
            format!("{}: the private key does not belong to the certificate in cert_file", key_file.display()),
        ),
        e => TlsError::new("key_file", format!("{}: {e}", key_file.display())),
    }
}

/// `insecure_skip_verify`: any certificate is accepted, but the handshake signatures are still
/// checked so the connection is at least encrypted to the holder of the presented key.
#[derive(Debug)]
struct AcceptAnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
