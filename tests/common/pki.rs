//! A test PKI: a CA and leaf certificates, generated with rcgen per test.

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// Distinct subject names matter: OpenSSL and BoringSSL (the Python SDK's gRPC) treat a leaf
/// whose subject equals its issuer's as self-signed.
fn named(mut params: CertificateParams, name: &str) -> CertificateParams {
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params
}

pub fn new_ca() -> CertifiedIssuer<'static, KeyPair> {
    static SERIAL: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut params =
        named(CertificateParams::new(Vec::<String>::new()).expect("CA params"), &format!("weir test CA {n}"));
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

pub fn leaf(ca: &CertifiedIssuer<'static, KeyPair>, names: &[&str]) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = named(CertificateParams::new(owned).expect("params"), names[0]);
    let cert = params.signed_by(&key, ca).expect("signed");
    (cert.pem(), key.serialize_pem())
}
