//! The `bearertokenauth` extension: a bearer token that receivers check and exporters send.
//!
//! As in the Collector, a token is configured once, as an extension listed in
//! `service::extensions`, and components name it in their `auth` key
//! ([`weir_core::auth`]):
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
//! A receiver then refuses every request whose `header` (default `authorization`) is not
//! exactly `<scheme> <token>` (default scheme `Bearer`) — HTTP 401, gRPC `UNAUTHENTICATED` —
//! before reading its body; an exporter sends that header with every request.
//!
//! Design:
//!
//! - **Offered by id.** The extension offers a server and a client authenticator
//!   ([`weir_core::component::Capabilities`]); a component gets them from its build context by
//!   the id its `auth::authenticator` names. The token is read when the extension is built.
//! - **Constant-time comparison.** The expected and received header values are compared with
//!   `subtle`, so the time taken does not reveal how much of a guess was right (only whether
//!   the lengths differ).
//! - **`filename`** is read when the component is built: at start and at every reload
//!   (SIGHUP), so a rotated token is picked up by a reload. Surrounding whitespace (a trailing
//!   newline) is ignored.

use async_trait::async_trait;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use weir_core::auth::{AuthError, ClientAuthenticator, ServerAuthenticator};
use weir_core::component::{
    BuildContext, BuildError, Capabilities, Capability, ComponentConfig, Extension, ExtensionFactory,
};

/// The extension type that authenticates with a bearer token.
pub const BEARER_TOKEN_AUTH: &str = "bearertokenauth";

/// `extensions::bearertokenauth[/name]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BearerTokenAuthConfig {
    /// The token. Exactly one of `token` and `filename` must be set. Use `${env:VAR}` rather
    /// than writing a secret into the file.
    pub token: String,
    /// A file holding the token (surrounding whitespace ignored), read at start and on reload.
    pub filename: Option<PathBuf>,
    /// Written before the token, separated by a space: `Bearer` (default). Empty sends and
    /// expects the bare token.
    pub scheme: String,
    /// The header (gRPC metadata key) carrying the token: `authorization` (default).
    pub header: String,
}

impl Default for BearerTokenAuthConfig {
    fn default() -> Self {
        BearerTokenAuthConfig {
            token: String::new(),
            filename: None,
            scheme: "Bearer".into(),
            header: "authorization".into(),
        }
    }
}

impl ComponentConfig for BearerTokenAuthConfig {
    fn validate(&self) -> Result<(), String> {
        BearerToken::new(self).map(|_| ())
    }
}

/// A configured bearer token: what a server expects and a client sends.
#[derive(Clone)]
pub struct BearerToken {
    header: http::HeaderName,
    /// `<scheme> <token>`, or the bare token with an empty scheme.
    value: http::HeaderValue,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the token itself: this can end up in logs.
        f.debug_struct("BearerToken").field("header", &self.header).finish_non_exhaustive()
    }
}

impl BearerToken {
    /// Builds the token from the extension's settings, reading `filename` if set.
    pub fn new(config: &BearerTokenAuthConfig) -> Result<BearerToken, String> {
        let token = match (&config.filename, config.token.is_empty()) {
            (Some(_), false) => return Err("token and filename are exclusive: set only one".into()),
            (None, true) => return Err("token or filename must be set".into()),
            (None, false) => config.token.clone(),
            (Some(path), true) => read_token_file(path)?,
        };
        if token.is_empty() {
            return Err(match &config.filename {
                Some(path) => format!("filename: {} is empty", path.display()),
                None => "token must not be empty".into(),
            });
        }
        let header = http::HeaderName::from_bytes(config.header.as_bytes())
            .map_err(|_| format!("header: {:?} is not a valid header name", config.header))?;
        let value = if config.scheme.is_empty() { token } else { format!("{} {token}", config.scheme) };
        let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
            "token (or scheme) has characters a header value cannot hold (e.g. a newline inside it)".to_string()
        })?;
        value.set_sensitive(true);
        Ok(BearerToken { header, value })
    }

    /// The header that carries the token.
    pub fn header_name(&self) -> &http::HeaderName {
        &self.header
    }

    /// The value a client sends: `<scheme> <token>`.
    pub fn header_value(&self) -> &http::HeaderValue {
        &self.value
    }

    /// Checks a request's headers (or gRPC metadata, which tonic keeps as HTTP/2 headers).
    pub fn check(&self, headers: &http::HeaderMap) -> Result<(), AuthError> {
        let mut values = headers.get_all(&self.header).iter();
        let (Some(received), None) = (values.next(), values.next()) else {
            return Err(if headers.contains_key(&self.header) { AuthError::Invalid } else { AuthError::Missing });
        };
        if received.is_empty() {
            return Err(AuthError::Missing);
        }
        if bool::from(received.as_bytes().ct_eq(self.value.as_bytes())) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }
}

/// The largest token file read; a token is a few hundred bytes at most.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// Reads a token file: a regular file of at most [`MAX_TOKEN_FILE`] bytes of UTF-8, trimmed.
fn read_token_file(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("filename: cannot read {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(format!("filename: {} is not a regular file", path.display()));
    }
    let mut token = String::new();
    file.take(MAX_TOKEN_FILE + 1).read_to_string(&mut token).map_err(cannot)?;
    if token.len() as u64 > MAX_TOKEN_FILE {
        return Err(format!("filename: {} is larger than {MAX_TOKEN_FILE} bytes: not a token", path.display()));
    }
    Ok(token.trim().to_string())
}

impl ServerAuthenticator for BearerToken {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<(), AuthError> {
        self.check(headers)
    }
}

impl ClientAuthenticator for BearerToken {
    fn headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)> {
        vec![(self.header.clone(), self.value.clone())]
    }
}

/// Factory of the `bearertokenauth` extension. The extension itself does nothing while
/// running: the components that name it hold its token.
pub struct BearerTokenAuthFactory;

impl ExtensionFactory for BearerTokenAuthFactory {
    type Config = BearerTokenAuthConfig;

    fn type_name(&self) -> &'static str {
        BEARER_TOKEN_AUTH
    }

    fn capabilities(&self) -> &'static [Capability] {
        &[Capability::ServerAuthenticator, Capability::ClientAuthenticator]
    }

    fn build(&self, _ctx: &BuildContext, config: &BearerTokenAuthConfig) -> Result<Box<dyn Extension>, BuildError> {
        // Reads `filename` again: a token rotated since the configuration was checked is used.
        let token = BearerToken::new(config).map_err(BuildError::new)?;
        Ok(Box::new(BearerTokenAuthExtension(Arc::new(token))))
    }
}

struct BearerTokenAuthExtension(Arc<BearerToken>);

#[async_trait]
impl Extension for BearerTokenAuthExtension {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            server_authenticator: Some(self.0.clone()),
            client_authenticator: Some(self.0.clone()),
            storage: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(yaml: &str) -> Result<BearerToken, String> {
        let c: BearerTokenAuthConfig = weir_core::testing::parse_config(yaml)?;
        BearerToken::new(&c)
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn the_right_token_with_the_default_scheme_and_header_is_accepted() {
        let t = token("token: s3cret\n").unwrap();
        assert_eq!(t.check(&headers(&[("authorization", "Bearer s3cret")])), Ok(()));
        assert_eq!(t.header_value(), "Bearer s3cret");
    }

    #[test]
    fn a_missing_wrong_or_repeated_token_is_refused() {
        let t = token("token: s3cret\n").unwrap();
        assert_eq!(t.check(&headers(&[])), Err(AuthError::Missing));
        assert_eq!(t.check(&headers(&[("authorization", "")])), Err(AuthError::Missing));
        assert_eq!(t.check(&headers(&[("authorization", "Bearer s3cre")])), Err(AuthError::Invalid));
        assert_eq!(t.check(&headers(&[("authorization", "Bearer s3cret ")])), Err(AuthError::Invalid));
        assert_eq!(t.check(&headers(&[("authorization", "Basic s3cret")])), Err(AuthError::Invalid));
        assert_eq!(t.check(&headers(&[("authorization", "s3cret")])), Err(AuthError::Invalid));
        let twice = headers(&[("authorization", "Bearer s3cret"), ("authorization", "Bearer s3cret")]);
        assert_eq!(t.check(&twice), Err(AuthError::Invalid));
    }

    #[test]
    fn custom_header_and_empty_scheme() {
        let t = token("token: abc\nscheme: \"\"\nheader: x-api-key\n").unwrap();
        assert_eq!(t.check(&headers(&[("x-api-key", "abc")])), Ok(()));
        assert_eq!(t.check(&headers(&[("authorization", "abc")])), Err(AuthError::Missing));
    }

    #[test]
    fn token_is_read_from_filename_without_surrounding_whitespace() {
        let dir = std::env::temp_dir().join(format!("weir-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let t = token(&format!("filename: {}\n", file.display())).unwrap();
        assert_eq!(t.check(&headers(&[("authorization", "Bearer from-file")])), Ok(()));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn token_and_filename_are_exclusive_and_one_is_required() {
        assert!(token("token: a\nfilename: /x\n").unwrap_err().contains("exclusive"));
        assert_eq!(token("scheme: Bearer\n").unwrap_err(), "token or filename must be set");
        let err = token("filename: /nonexistent/weir-token\n").unwrap_err();
        assert!(err.starts_with("filename: cannot read /nonexistent/weir-token"), "{err}");
    }

    #[test]
    fn invalid_header_and_token_characters_are_named() {
        assert!(token("token: a\nheader: \"x y\"\n").unwrap_err().starts_with("header:"));
        assert!(token("token: \"a\\nb\"\n").unwrap_err().contains("header value"));
    }

    #[test]
    fn special_files_are_not_read_as_tokens() {
        let err = token("filename: /dev/zero\n").unwrap_err();
        assert!(err.contains("is not a regular file"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_the_token() {
        let t = token("token: s3cret\n").unwrap();
        assert!(!format!("{t:?}").contains("s3cret"));
    }
}
