//! Certificates are generated per test with rcgen into a temporary directory.

use super::*;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A CA and a `localhost` leaf it signed, written as PEM files.
struct Pki {
    dir: PathBuf,
}

impl Pki {
    fn new(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(format!("weir-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap().signed_by(&leaf_key, &ca).unwrap();
        let other_key = KeyPair::generate().unwrap();
        std::fs::write(dir.join("ca.pem"), ca.pem()).unwrap();
        std::fs::write(dir.join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), leaf_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("other-key.pem"), other_key.serialize_pem()).unwrap();
        std::fs::write(dir.join("garbage.pem"), "not a certificate\n").unwrap();
        Pki { dir }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    fn server(&self) -> TlsServerSettings {
        TlsServerSettings { cert_file: self.path("cert.pem"), key_file: self.path("key.pem"), ..Default::default() }
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn server_and_mtls_configs_build_from_matching_files() {
    let pki = Pki::new("ok");
    let config = pki.server().server_config(&[ALPN_H2]).unwrap();
    assert_eq!(config.alpn_protocols, vec![b"h2".to_vec()]);
    let mtls = TlsServerSettings { client_ca_file: Some(pki.path("ca.pem")), ..pki.server() };
    mtls.server_config(&[]).unwrap();
    let client = TlsClientSettings {
        ca_file: Some(pki.path("ca.pem")),
        cert_file: Some(pki.path("cert.pem")),
        key_file: Some(pki.path("key.pem")),
        ..Default::default()
    };
    assert!(client.client_config(&[]).unwrap().is_some());
}

#[test]
fn a_missing_file_is_named_with_its_key() {
    let pki = Pki::new("missing");
    let settings = TlsServerSettings { cert_file: pki.path("nope.pem"), ..pki.server() };
    let err = settings.server_config(&[]).unwrap_err();
    assert_eq!(err.key, "cert_file");
    assert!(err.to_string().starts_with("tls::cert_file: cannot read "), "{err}");
    assert!(err.to_string().contains("nope.pem"), "{err}");
}

#[test]
fn a_servers_ca_file_is_read_at_start_and_otherwise_unused() {
    let pki = Pki::new("server-ca");
    let with_ca = TlsServerSettings { ca_file: Some(pki.path("ca.pem")), ..pki.server() };
    assert_eq!(with_ca.files().last().unwrap(), &("ca_file", pki.path("ca.pem")));
    with_ca.server_config(&[]).unwrap();
    let err = TlsServerSettings { ca_file: Some(pki.path("nope.pem")), ..pki.server() }.server_config(&[]).unwrap_err();
    assert_eq!(err.key, "ca_file", "{err}");
}

#[test]
fn a_file_without_pem_blocks_is_refused() {
    let pki = Pki::new("garbage");
    let err = TlsServerSettings { cert_file: pki.path("garbage.pem"), ..pki.server() }.server_config(&[]).unwrap_err();
    assert!(err.to_string().contains("no certificate found"), "{err}");
    let err = TlsServerSettings { key_file: pki.path("garbage.pem"), ..pki.server() }.server_config(&[]).unwrap_err();
    assert_eq!(err.key, "key_file");
    assert!(err.to_string().contains("no private key found"), "{err}");
    // A certificate given where a key belongs.
    let err = TlsServerSettings { key_file: pki.path("cert.pem"), ..pki.server() }.server_config(&[]).unwrap_err();
    assert_eq!(err.key, "key_file");
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let pki = Pki::new("mismatch");
    let err = TlsServerSettings { key_file: pki.path("other-key.pem"), ..pki.server() }.server_config(&[]).unwrap_err();
    assert!(err.to_string().contains("does not belong to the certificate"), "{err}");
    let client = TlsClientSettings {
        ca_file: Some(pki.path("ca.pem")),
        cert_file: Some(pki.path("cert.pem")),
        key_file: Some(pki.path("other-key.pem")),
        ..Default::default()
    };
    assert!(client.client_config(&[]).unwrap_err().to_string().contains("does not belong"));
}

#[test]
fn cert_and_key_are_required_on_servers_and_paired_on_clients() {
    let err = TlsServerSettings::default().server_config(&[]).unwrap_err();
    assert_eq!(err.key, "cert_file");
    let pki = Pki::new("pair");
    let client =
        TlsClientSettings { cert_file: Some(pki.path("cert.pem")), insecure_skip_verify: true, ..Default::default() };
    assert_eq!(client.client_config(&[]).unwrap_err().key, "key_file");
}

#[test]
fn versions_are_ordered() {
    assert_eq!(versions(None, None).unwrap().len(), 2);
    assert_eq!(versions(Some(TlsVersion::Tls13), None).unwrap(), vec![&rustls::version::TLS13]);
    assert_eq!(versions(None, Some(TlsVersion::Tls12)).unwrap(), vec![&rustls::version::TLS12]);
    assert_eq!(versions(Some(TlsVersion::Tls13), Some(TlsVersion::Tls12)).unwrap_err().key, "min_version");
}

#[test]
fn insecure_means_plaintext() {
    let client = TlsClientSettings { insecure: true, ca_file: Some("/nonexistent".into()), ..Default::default() };
    assert!(client.client_config(&[]).unwrap().is_none());
}

#[test]
fn server_name_override_wins_over_the_host() {
    let client = TlsClientSettings { server_name_override: Some("weir.internal".into()), ..Default::default() };
    assert_eq!(client.server_name("127.0.0.1").unwrap().to_str(), "weir.internal");
    assert_eq!(TlsClientSettings::default().server_name("[::1]").unwrap().to_str(), "::1");
}

#[test]
fn special_and_huge_files_are_not_read() {
    let pki = Pki::new("special");
    let err = TlsServerSettings { cert_file: "/dev/zero".into(), ..pki.server() }.server_config(&[]).unwrap_err();
    assert!(err.to_string().contains("is not a regular file"), "{err}");
    let huge = pki.path("huge.pem");
    std::fs::write(&huge, vec![b'a'; (MAX_PEM_FILE + 1) as usize]).unwrap();
    let err = TlsServerSettings { cert_file: huge, ..pki.server() }.server_config(&[]).unwrap_err();
    assert!(err.to_string().contains("is larger than"), "{err}");
}

#[test]
fn checking_settings_reads_no_file() {
    // The Collector's own fixtures name files that exist only where the config runs.
    let server = TlsServerSettings {
        cert_file: "/nonexistent/cert.pem".into(),
        key_file: "/nonexistent/key.pem".into(),
        client_ca_file: Some("/nonexistent/ca.pem".into()),
        ..Default::default()
    };
    server.check().unwrap();
    assert_eq!(
        server.files().into_iter().map(|(k, _)| k).collect::<Vec<_>>(),
        ["cert_file", "key_file", "client_ca_file"]
    );
    let client = TlsClientSettings { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
    client.check().unwrap();
    // Building reads them, and says which key names which file.
    let err = server.server_config(&[]).unwrap_err();
    assert!(err.to_string().starts_with("tls::cert_file: cannot read /nonexistent/cert.pem"), "{err}");
    let err = client.client_config(&[]).unwrap_err();
    assert!(err.to_string().starts_with("tls::ca_file: cannot read /nonexistent/ca.pem"), "{err}");
}

#[test]
fn checking_settings_still_refuses_what_no_file_can_fix() {
    let err = TlsServerSettings::default().check().unwrap_err();
    assert_eq!(err.key, "cert_file");
    let client = TlsClientSettings { cert_file: Some("c.pem".into()), ..Default::default() };
    assert_eq!(client.check().unwrap_err().key, "key_file");
    let versions = TlsClientSettings {
        min_version: Some(TlsVersion::Tls13),
        max_version: Some(TlsVersion::Tls12),
        ..Default::default()
    };
    assert_eq!(versions.check().unwrap_err().key, "min_version");
}
