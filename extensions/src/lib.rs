//! weir-extensions: components that run beside the pipelines and offer capabilities to them.
//!
//! | type | offers |
//! |---|---|
//! | [`health_check`] | `GET localhost:13133/`: is the service up |
//! | [`file_storage`] | storage: where persistent sending queues keep their logs |
//! | [`bearertokenauth`] | a server and a client authenticator: a bearer token |
//! | [`pprof`] | `GET localhost:1777/debug/pprof/profile`: CPU profiles in the pprof format |
//! | [`zpages`] | `GET localhost:55679/debug/servicez` and the other zPages: the running service |
//!
//! An extension is configured under `extensions:` and enabled in `service::extensions`. What
//! it offers other components ([`weir_core::component::Capability`]) is declared by its factory,
//! so the loader checks references to it, and handed to them by id when they are built.

pub mod bearertokenauth;
pub mod file_storage;
pub mod health_check;
pub mod pprof;
pub mod zpages;

/// Listens where an extension's `endpoint` says, written the Collector's way (`:1777` is every
/// interface).
pub(crate) async fn bind(endpoint: &str) -> Result<tokio::net::TcpListener, weir_core::BuildError> {
    let addr = if endpoint.starts_with(':') { format!("0.0.0.0{endpoint}") } else { endpoint.to_string() };
    tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| weir_core::BuildError::new(format!("cannot listen on {endpoint} (endpoint): {e}")))
}

/// Adds every extension of this crate to `registry`.
pub fn register(registry: &mut weir_core::Registry) {
    registry.add_extension(health_check::HealthCheckFactory);
    registry.add_extension(file_storage::FileStorageFactory);
    registry.add_extension(bearertokenauth::BearerTokenAuthFactory);
    registry.add_extension(pprof::PprofFactory);
    registry.add_extension(zpages::ZPagesFactory);
}
