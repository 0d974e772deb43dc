//! The `bearertokenauth` extension: bearer tokens that receivers check and exporters send.
//!
//! As in the Collector, tokens are configured once, as an extension listed in
//! `service::extensions`, and components name it in their `auth` key
//! ([`weir_core::auth`]):
//!
//! ```yaml
//! extensions:
//!   bearertokenauth/clients: { tokens: ["${env:WEIR_TOKEN}", "${env:WEIR_NEXT_TOKEN}"] }
//! receivers:
//!   otlp:
//!     protocols:
//!       grpc: { auth: { authenticator: bearertokenauth/clients } }
//! exporters:
//!   otlp: { endpoint: backend:4317, auth: { authenticator: bearertokenauth/clients } }
//! ```
//!
//! A receiver then refuses every request whose `header` (default `authorization`) is not
//! exactly `<scheme> <token>` (default scheme `Bearer`) for **one of** the tokens — HTTP 401,
//! gRPC `UNAUTHENTICATED` — before reading its body; an exporter sends the **first** token
//! with every request. Several tokens let a server accept an old and a new token while
//! clients move over.
//!
//! Where the tokens come from, as the Collector resolves it:
//!
//! - `filename` set: the file wins (the Collector logs that `token`/`tokens` are ignored, and
//!   so does weir). One token per line, surrounding whitespace trimmed, blank lines ignored.
//! - else `tokens`, else `token`. `token` and `tokens` together are an error; none of the
//!   three is an error.
//!
//! Design:
//!
//! - **Offered by id.** The extension offers a server and a client authenticator
//!   ([`weir_core::component::Capabilities`]); a component gets them from its build context by
//!   the id its `auth::authenticator` names.
//! - **Files are read at start, never while loading.** Loading checks the keys only (the
//!   Collector's own test configs name token files that do not exist). The file is read when
//!   the extension is built — at start and at every reload (SIGHUP) — and a file that cannot be
//!   read, or holds no token, fails the start with an error naming `filename` and the file.
//!   While running, the file is checked every second ([`WATCH_INTERVAL`]; the Collector
//!   watches it with fsnotify): when it changes, receivers accept the new tokens at once. An
//!   unreadable or empty file at that point is logged and the tokens already held are kept.
//!   Exporters read their header when they are built, so they send a rotated token from the
//!   next reload on.
//! - **Constant-time comparison.** The received header value is compared with every expected
//!   value with `subtle`, all of them every time, so the time taken reveals neither how much
//!   of a guess was right nor which token matched (only whether the lengths differ).

use async_trait::async_trait;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::auth::{AuthError, ClientAuthenticator, ServerAuthenticator};
use weir_core::component::{
    BuildContext, BuildError, Capabilities, Capability, ComponentConfig, Extension, ExtensionContext, ExtensionFactory,
};

/// The extension type that authenticates with a bearer token.
pub const BEARER_TOKEN_AUTH: &str = "bearertokenauth";

/// How often a running extension checks `filename` for a new token.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(1);

/// `extensions::bearertokenauth[/name]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BearerTokenAuthConfig {
    /// One token. Use `${env:VAR}` rather than writing a secret into the file. Not together
    /// with `tokens`.
    pub token: String,
    /// Several tokens: a receiver accepts any of them, an exporter sends the first. Not
    /// together with `token`.
    pub tokens: Vec<String>,
    /// A file holding the token(s), one per line (surrounding whitespace and blank lines
    /// ignored). It wins over `token` and `tokens` when set. Read at start, at every reload,
    /// and again whenever it changes while weir runs.
    pub filename: Option<PathBuf>,
    /// Written before the token, separated by a space: `Bearer` (default). Empty sends and
    /// expects the bare token.
    pub scheme: String,
    /// The header (gRPC metadata key) carrying the token: `authorization` (default; the
    /// Collector spells it `Authorization`, header names are case-insensitive).
    pub header: String,
}

impl Default for BearerTokenAuthConfig {
    fn default() -> Self {
        BearerTokenAuthConfig {
            token: String::new(),
            tokens: Vec::new(),
            filename: None,
            scheme: "Bearer".into(),
            header: "authorization".into(),
        }
    }
}

impl ComponentConfig for BearerTokenAuthConfig {
    /// The Collector's rules, without reading `filename`.
    fn validate(&self) -> Result<(), String> {
        if self.token.is_empty() && self.tokens.is_empty() && self.filename.is_none() {
            return Err("no bearer token provided: set token, tokens or filename".into());
        }
        if !self.token.is_empty() && !self.tokens.is_empty() {
            return Err("tokens: either tokens or token should be provided, not both".into());
        }
        if self.filename.as_ref().is_some_and(|f| f.as_os_str().is_empty()) {
            return Err("filename must not be empty".into());
        }
        header_name(&self.header)?;
        if self.filename.is_none() {
            header_values(&self.scheme, self.configured_tokens())?;
        }
        Ok(())
    }

    fn files(&self) -> Vec<(String, PathBuf)> {
        self.filename.iter().map(|f| ("filename".to_string(), f.clone())).collect()
    }
}

impl BearerTokenAuthConfig {
    /// `tokens`, or `token` alone.
    fn configured_tokens(&self) -> Vec<&str> {
        if self.tokens.is_empty() {
            vec![self.token.as_str()]
        } else {
            self.tokens.iter().map(String::as_str).collect()
        }
    }
}

fn header_name(header: &str) -> Result<http::HeaderName, String> {
    http::HeaderName::from_bytes(header.as_bytes())
        .map_err(|_| format!("header: {header:?} is not a valid header name"))
}

/// `<scheme> <token>` for every token, as sensitive header values.
fn header_values<'a>(
    scheme: &str,
    tokens: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<http::HeaderValue>, String> {
    let mut out = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        if token.is_empty() {
            return Err(format!("tokens[{i}]: a token must not be empty"));
        }
        let value = if scheme.is_empty() { token.to_string() } else { format!("{scheme} {token}") };
        let mut value = http::HeaderValue::from_str(&value).map_err(|_| {
            "token (or scheme) has characters a header value cannot hold (e.g. a newline inside it)".to_string()
        })?;
        value.set_sensitive(true);
        out.push(value);
    }
    Ok(out)
}

/// The configured tokens: what a server expects and a client sends, kept current with
/// `filename` while the extension runs.
pub struct BearerToken {
    header: http::HeaderName,
    scheme: String,
    /// Every accepted `<scheme> <token>`, the one sent first. Never empty.
    values: RwLock<Arc<[http::HeaderValue]>>,
    /// `filename`, and what it looked like when last read.
    file: Option<(PathBuf, RwLock<Option<FileStamp>>)>,
}

/// Enough of a file's metadata to see that it changed (also through a replaced symlink, as a
/// Kubernetes secret is updated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let m = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&m);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp { modified: m.modified().ok(), len: m.len(), inode })
    }
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens themselves: this can end up in logs.
        f.debug_struct("BearerToken").field("header", &self.header).finish_non_exhaustive()
    }
}

impl BearerToken {
    /// Builds the tokens from the extension's settings, reading `filename` if set (at start).
    pub fn new(config: &BearerTokenAuthConfig) -> Result<BearerToken, String> {
        config.validate()?;
        let header = header_name(&config.header)?;
        let (values, file) = match &config.filename {
            Some(path) => {
                if !config.token.is_empty() || !config.tokens.is_empty() {
                    tracing::warn!(
                        message = "A filename is specified: the configured token(s) are ignored.",
                        filename = %path.display()
                    );
                }
                let stamp = FileStamp::of(path);
                let values = read_token_file(path, &config.scheme)?;
                (values, Some((path.clone(), RwLock::new(stamp))))
            }
            None => (header_values(&config.scheme, config.configured_tokens())?, None),
        };
        Ok(BearerToken { header, scheme: config.scheme.clone(), values: RwLock::new(values.into()), file })
    }

    /// The header that carries the token.
    pub fn header_name(&self) -> &http::HeaderName {
        &self.header
    }

    /// Every value a server accepts, the one a client sends first.
    pub fn header_values(&self) -> Arc<[http::HeaderValue]> {
        // A poisoned lock only means a refresh panicked midway: the old values are still whole.
        self.values.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The value a client sends: `<scheme> <first token>`.
    pub fn header_value(&self) -> http::HeaderValue {
        self.header_values()[0].clone()
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
        // Every expected value is compared, whichever matches.
        let matched = self
            .header_values()
            .iter()
            .fold(subtle::Choice::from(0), |acc, v| acc | received.as_bytes().ct_eq(v.as_bytes()));
        if bool::from(matched) {
            Ok(())
        } else {
            Err(AuthError::Invalid)
        }
    }

    /// Reads `filename` again when it changed since it was last read. Returns whether the
    /// tokens changed; a file that cannot be read (or holds no token) is logged and the tokens
    /// held are kept.
    pub fn refresh(&self) -> bool {
        let Some((path, seen)) = &self.file else { return false };
        let stamp = FileStamp::of(path);
        if stamp == *seen.read().unwrap_or_else(|e| e.into_inner()) {
            return false;
        }
        *seen.write().unwrap_or_else(|e| e.into_inner()) = stamp;
        match read_token_file(path, &self.scheme) {
            Ok(values) => {
                *self.values.write().unwrap_or_else(|e| e.into_inner()) = values.into();
                tracing::info!(message = "Read the bearer token file again.", filename = %path.display());
                true
            }
            Err(error) => {
                tracing::error!(message = "Cannot read the bearer token file; keeping the tokens held.", %error);
                false
            }
        }
    }
}

/// The largest token file read; tokens are a few hundred bytes at most.
const MAX_TOKEN_FILE: u64 = 64 * 1024;

/// Reads a token file: a regular file of at most [`MAX_TOKEN_FILE`] bytes of UTF-8, one token
/// per line.
fn read_token_file(path: &Path, scheme: &str) -> Result<Vec<http::HeaderValue>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("filename: cannot read {}: {e}", path.display());
    let file = std::fs::File::open(path).map_err(cannot)?;
    if !file.metadata().map_err(cannot)?.is_file() {
        return Err(format!("filename: {} is not a regular file", path.display()));
    }
    let mut text = String::new();
    file.take(MAX_TOKEN_FILE + 1).read_to_string(&mut text).map_err(cannot)?;
    if text.len() as u64 > MAX_TOKEN_FILE {
        return Err(format!("filename: {} is larger than {MAX_TOKEN_FILE} bytes: not a token file", path.display()));
    }
    let tokens: Vec<&str> = text.lines().map(str::trim).filter(|t| !t.is_empty()).collect();
    if tokens.is_empty() {
        return Err(format!("filename: {} holds no token", path.display()));
    }
    header_values(scheme, tokens).map_err(|e| format!("filename: {}: {e}", path.display()))
}

impl ServerAuthenticator for BearerToken {
    fn authenticate(&self, headers: &http::HeaderMap) -> Result<(), AuthError> {
        self.check(headers)
    }
}

impl ClientAuthenticator for BearerToken {
    fn headers(&self) -> Vec<(http::HeaderName, http::HeaderValue)> {
        vec![(self.header.clone(), self.header_value())]
    }
}

/// Factory of the `bearertokenauth` extension.
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
        // Reads `filename` (at start and at every reload).
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

    /// Watches `filename`, when set, until `shutdown`.
    async fn start(
        self: Box<Self>,
        _ctx: ExtensionContext,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>, BuildError> {
        let token = self.0.clone();
        if token.file.is_none() {
            return Ok(tokio::spawn(async {}));
        }
        Ok(tokio::spawn(async move {
            let mut tick = tokio::time::interval(WATCH_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {
                        let t = token.clone();
                        let _ = tokio::task::spawn_blocking(move || t.refresh()).await;
                    }
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml: &str) -> Result<BearerTokenAuthConfig, String> {
        weir_core::testing::parse_config(yaml)
    }

    fn token(yaml: &str) -> Result<BearerToken, String> {
        BearerToken::new(&config(yaml)?)
    }

    fn headers(pairs: &[(&str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    fn bearer(value: &str) -> http::HeaderMap {
        headers(&[("authorization", value)])
    }

    #[test]
    fn the_right_token_with_the_default_scheme_and_header_is_accepted() {
        let t = token("token: s3cret\n").unwrap();
        assert_eq!(t.check(&bearer("Bearer s3cret")), Ok(()));
        assert_eq!(t.header_value(), "Bearer s3cret");
    }

    #[test]
    fn a_missing_wrong_or_repeated_token_is_refused() {
        let t = token("token: s3cret\n").unwrap();
        assert_eq!(t.check(&headers(&[])), Err(AuthError::Missing));
        assert_eq!(t.check(&bearer("")), Err(AuthError::Missing));
        assert_eq!(t.check(&bearer("Bearer s3cre")), Err(AuthError::Invalid));
        assert_eq!(t.check(&bearer("Bearer s3cret ")), Err(AuthError::Invalid));
        assert_eq!(t.check(&bearer("Basic s3cret")), Err(AuthError::Invalid));
        assert_eq!(t.check(&bearer("s3cret")), Err(AuthError::Invalid));
        let twice = headers(&[("authorization", "Bearer s3cret"), ("authorization", "Bearer s3cret")]);
        assert_eq!(t.check(&twice), Err(AuthError::Invalid));
    }

    #[test]
    fn a_server_accepts_any_of_the_tokens_and_a_client_sends_the_first() {
        let t = token("tokens: [token1, thistokenalsoworks]\n").unwrap();
        assert_eq!(t.check(&bearer("Bearer token1")), Ok(()));
        assert_eq!(t.check(&bearer("Bearer thistokenalsoworks")), Ok(()));
        assert_eq!(t.check(&bearer("Bearer token2")), Err(AuthError::Invalid));
        assert_eq!(t.headers(), vec![(t.header_name().clone(), "Bearer token1".parse().unwrap())]);
    }

    #[test]
    fn custom_header_and_empty_scheme() {
        let t = token("token: abc\nscheme: \"\"\nheader: X-Custom-Authorization\n").unwrap();
        assert_eq!(t.check(&headers(&[("x-custom-authorization", "abc")])), Ok(()));
        assert_eq!(t.check(&bearer("abc")), Err(AuthError::Missing));
    }

    #[test]
    fn the_collectors_key_rules() {
        assert!(config("scheme: Bearer\n").unwrap_err().starts_with("no bearer token provided"));
        let err = config("tokens: [a]\ntoken: b\n").unwrap_err();
        assert!(err.starts_with("tokens: either tokens or token should be provided, not both"), "{err}");
        assert!(config("tokens: [a, \"\"]\n").unwrap_err().starts_with("tokens[1]"));
        // `filename` beside `token` or `tokens` is valid: the file wins at start.
        config("token: ignored\nfilename: /nonexistent/weir-token\n").unwrap();
        config("tokens: [a, b]\nfilename: /nonexistent/weir-token\n").unwrap();
    }

    #[test]
    fn loading_reads_no_file_and_the_start_names_it() {
        let c = config("filename: /nonexistent/weir-token\n").expect("the file is read at start");
        assert_eq!(c.files(), [("filename".to_string(), PathBuf::from("/nonexistent/weir-token"))]);
        let err = BearerToken::new(&c).unwrap_err();
        assert!(err.starts_with("filename: cannot read /nonexistent/weir-token"), "{err}");
    }

    #[test]
    fn the_file_wins_over_token_one_token_a_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n\n  second  \n").unwrap();
        let t = token(&format!("token: ignored\nfilename: {}\n", file.display())).unwrap();
        assert_eq!(t.check(&bearer("Bearer from-file")), Ok(()));
        assert_eq!(t.check(&bearer("Bearer second")), Ok(()));
        assert_eq!(t.check(&bearer("Bearer ignored")), Err(AuthError::Invalid));
        assert_eq!(t.check(&bearer("Bearer ")), Err(AuthError::Invalid), "a blank line is not an empty token");
        assert_eq!(t.header_value(), "Bearer from-file");
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_keeps_the_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "old\n").unwrap();
        let t = token(&format!("filename: {}\n", file.display())).unwrap();
        assert!(!t.refresh(), "unchanged");
        std::fs::write(&file, "new-and-longer\n").unwrap();
        assert!(t.refresh());
        assert_eq!(t.check(&bearer("Bearer new-and-longer")), Ok(()));
        assert_eq!(t.check(&bearer("Bearer old")), Err(AuthError::Invalid));
        std::fs::write(&file, "\n").unwrap();
        assert!(!t.refresh(), "an empty file is refused");
        assert_eq!(t.check(&bearer("Bearer new-and-longer")), Ok(()), "the tokens held are kept");
    }

    #[test]
    fn a_file_without_tokens_fails_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, " \n\n").unwrap();
        let err = token(&format!("filename: {}\n", file.display())).unwrap_err();
        assert!(err.contains("holds no token"), "{err}");
    }

    #[test]
    fn invalid_header_and_token_characters_are_named() {
        assert!(config("token: a\nheader: \"x y\"\n").unwrap_err().starts_with("header:"));
        assert!(config("token: \"a\\nb\"\n").unwrap_err().contains("header value"));
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
