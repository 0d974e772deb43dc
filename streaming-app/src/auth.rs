//! Users and tokens: a JWT (HS256, RFC 7519) written by hand over `hmac` + `sha2`, and an
//! in-memory user table with salted SHA-256 password hashes.
//!
//! Tokens carry `sub` (the user name), `iat` and `exp` (seconds since the epoch). A token is
//! accepted only when its header says `HS256`, its signature verifies in constant time and it
//! has not expired. Passwords are hashed with a per-user random salt; this is a demo service,
//! not a password store (a real one would use a slow KDF such as argon2).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Why a token was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("token is not three base64url parts separated by dots")]
    Malformed,
    #[error("token header does not say alg HS256")]
    WrongAlgorithm,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token has expired")]
    Expired,
}

/// Signs and verifies HS256 tokens with one shared secret.
#[derive(Clone)]
pub struct TokenKey {
    secret: Vec<u8>,
    ttl_s: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Claims {
    sub: String,
    iat: u64,
    exp: u64,
}

fn now_s() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl TokenKey {
    /// A key that issues tokens valid for `ttl_s` seconds.
    pub fn new(secret: &[u8], ttl_s: u64) -> TokenKey {
        TokenKey { secret: secret.to_vec(), ttl_s }
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC accepts keys of any length, so this cannot fail.
        HmacSha256::new_from_slice(&self.secret).expect("HMAC takes any key length")
    }

    /// A signed token for `user`.
    pub fn issue(&self, user: &str) -> String {
        let iat = now_s();
        self.issue_with_times(user, iat, iat + self.ttl_s)
    }

    fn issue_with_times(&self, user: &str, iat: u64, exp: u64) -> String {
        let header = B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = Claims { sub: user.to_string(), iat, exp };
        // Serializing a struct of a string and two integers cannot fail.
        let payload = B64.encode(serde_json::to_vec(&claims).expect("claims serialize"));
        let signing_input = format!("{header}.{payload}");
        let mut mac = self.mac();
        mac.update(signing_input.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    }

    /// The user name a valid token was issued for.
    pub fn verify(&self, token: &str) -> Result<String, TokenError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value =
            B64.decode(h).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(TokenError::WrongAlgorithm);
        }
        let sig = B64.decode(s).map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(h.as_bytes());
        mac.update(b".");
        mac.update(p.as_bytes());
        mac.verify_slice(&sig).map_err(|_| TokenError::BadSignature)?;
        let claims: Claims =
            B64.decode(p).ok().and_then(|b| serde_json::from_slice(&b).ok()).ok_or(TokenError::Malformed)?;
        if claims.exp <= now_s() {
            return Err(TokenError::Expired);
        }
        Ok(claims.sub)
    }
}

/// A stored password: a random salt and SHA-256(salt ‖ password).
struct PasswordHash {
    salt: [u8; 16],
    digest: [u8; 32],
}

/// Registered users by name.
#[derive(Default)]
pub struct UserTable {
    users: Mutex<HashMap<String, PasswordHash>>,
}

/// Why registration failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegisterError {
    #[error("user name must be 1 to 64 characters of letters, digits, '-', '_' or '.'")]
    BadName,
    #[error("password must be at least 4 characters")]
    ShortPassword,
    #[error("user name is taken")]
    Taken,
}

fn hash(salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

impl UserTable {
    /// Registers a new user.
    pub fn register(&self, name: &str, password: &str) -> Result<(), RegisterError> {
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            return Err(RegisterError::BadName);
        }
        if password.len() < 4 {
            return Err(RegisterError::ShortPassword);
        }
        let salt: [u8; 16] = rand::random();
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        if users.contains_key(name) {
            return Err(RegisterError::Taken);
        }
        users.insert(name.to_string(), PasswordHash { salt, digest: hash(&salt, password) });
        Ok(())
    }

    /// Whether `password` is `name`'s password.
    pub fn check(&self, name: &str, password: &str) -> bool {
        let users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let Some(stored) = users.get(name) else { return false };
        let given = hash(&stored.salt, password);
        // Constant-time comparison: fold the differences.
        given.iter().zip(stored.digest.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_verifies_to_its_user() {
        let k = TokenKey::new(b"s3cret", 60);
        assert_eq!(k.verify(&k.issue("alice")), Ok("alice".to_string()));
    }

    #[test]
    fn token_signed_with_another_secret_is_refused() {
        let t = TokenKey::new(b"other", 60).issue("alice");
        assert_eq!(TokenKey::new(b"s3cret", 60).verify(&t), Err(TokenError::BadSignature));
    }

    #[test]
    fn expired_token_is_refused() {
        let k = TokenKey::new(b"s3cret", 60);
        let t = k.issue_with_times("alice", 1, 2);
        assert_eq!(k.verify(&t), Err(TokenError::Expired));
    }

    #[test]
    fn tampered_payload_and_alg_none_are_refused() {
        let k = TokenKey::new(b"s3cret", 60);
        let t = k.issue("alice");
        let parts: Vec<&str> = t.split('.').collect();
        let forged = B64.encode(br#"{"sub":"mallory","iat":0,"exp":99999999999}"#);
        assert_eq!(k.verify(&format!("{}.{forged}.{}", parts[0], parts[2])), Err(TokenError::BadSignature));
        let none = B64.encode(br#"{"alg":"none"}"#);
        assert_eq!(k.verify(&format!("{none}.{}.", parts[1])), Err(TokenError::WrongAlgorithm));
        assert_eq!(k.verify("garbage"), Err(TokenError::Malformed));
    }

    #[test]
    fn passwords_are_checked_and_names_unique() {
        let u = UserTable::default();
        u.register("bob", "hunter2").unwrap();
        assert!(u.check("bob", "hunter2"));
        assert!(!u.check("bob", "hunter3"));
        assert!(!u.check("nobody", "hunter2"));
        assert_eq!(u.register("bob", "xxxx"), Err(RegisterError::Taken));
        assert_eq!(u.register("b b", "xxxx"), Err(RegisterError::BadName));
        assert_eq!(u.register("carol", "x"), Err(RegisterError::ShortPassword));
    }
}
