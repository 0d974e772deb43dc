//! Authentication as components use it: the `auth` key that names an authenticator extension,
//! and the two faces such an extension offers.
//!
//! As in the Collector, credentials are configured once, as an extension listed in
//! `service::extensions`, and components name it:
//!
//! ```yaml
//! extensions:
//!   bearertokenauth/clients: { token: "${env:WEIR_TOKEN}" }
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc: { auth: { authenticator: bearertokenauth/clients } }
//! exporters:
//!   otlp: { endpoint: backend:4317, auth: { authenticator: bearertokenauth/clients } }
//! ```
//!
//! The loader checks that every `auth::authenticator` names a configured extension, enabled
//! in `service::extensions`, whose type offers the capability the component needs (a
//! [`ServerAuthenticator`] for receivers, a [`ClientAuthenticator`] for exporters). When
//! components are built, [`crate::component::BuildContext`] hands them the running
//! extension's authenticator by id. Nothing here knows a concrete extension type.

use serde::Deserialize;

/// `auth`: which authenticator extension a server checks requests with, or a client adds
/// credentials from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// The extension's id, e.g. `bearertokenauth/clients`; it must be configured under
    /// `extensions` and listed in `service::extensions`.
    pub authenticator: String,
}

/// Why a request was not authenticated (the message goes back to the client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("missing or empty authorization header")]
    Missing,
    #[error("invalid authorization")]
    Invalid,
}

/// What a receiver asks an authenticator extension: may this request in?
pub trait ServerAuthenticator: Send + Sync + 'static {
    /// Checks a request's headers (gRPC metadata is kept as HTTP/2 headers by tonic), before
    /// its body is read.
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<(), AuthError>;
}

/// What an exporter asks an authenticator extension: the credentials to send.
pub trait ClientAuthenticator: Send + Sync + 'static {
    /// Headers (gRPC metadata) to add to every request.
    fn headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)>;
}
