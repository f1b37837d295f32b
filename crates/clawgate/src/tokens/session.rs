//! Human session tokens: HS256 under `JWT_SECRET`, recording how the person signed in.

use super::{LEEWAY_SECS, is_current, strict_validation};
use crate::clock::Millis;
use crate::domain::ids::UserId;
use crate::domain::random;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde::{Deserialize, Serialize};

pub const AUDIENCE: &str = "clawgate:session";
const TYPE: &str = "session";

/// How the session was obtained: step-up rules depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignInMethod {
    /// Email registration only: enough to add a first passkey, nothing sensitive after that.
    Email,
    /// A passkey assertion (login) or the completion of a passkey registration.
    Passkey,
}

impl SignInMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            SignInMethod::Email => "email",
            SignInMethod::Passkey => "passkey",
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    typ: String,
    amr: SignInMethod,
    iat: i64,
    exp: i64,
    jti: String,
    /// For a session kept in a browser cookie: the token every state-changing request must
    /// repeat in `X-CSRF-Token` (bound to the session, so a planted cookie cannot supply one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    csrf: Option<String>,
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The token's `jti`: the session's row on the server (see `store::sessions`).
    pub id: String,
    pub user_id: UserId,
    pub method: SignInMethod,
    pub expires_at: Millis,
    /// Present for cookie sessions (see `Claims::csrf`).
    pub csrf: Option<String>,
}

/// A freshly signed session token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    /// Its jti, the key of the session's row.
    pub id: String,
    pub expires_at: Millis,
}

pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
    ttl_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("the session token is not valid")]
    Invalid,
    #[error("the session token has expired; sign in again")]
    Expired,
}

impl SessionKeys {
    pub fn new(secret: &[u8], issuer: String, ttl_secs: i64) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            issuer,
            ttl_secs,
        }
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    /// A signed token for a new session; the caller records it on the server (`id` is its jti).
    pub fn issue(
        &self,
        user: &UserId,
        method: SignInMethod,
        csrf: Option<&str>,
        now: Millis,
    ) -> anyhow::Result<IssuedToken> {
        let iat = now / 1000;
        let jti = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random::bytes::<16>());
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: user.as_str().to_owned(),
            aud: AUDIENCE.to_owned(),
            typ: TYPE.to_owned(),
            amr: method,
            iat,
            exp: iat + self.ttl_secs,
            jti: jti.clone(),
            csrf: csrf.map(str::to_owned),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding)?;
        Ok(IssuedToken { token, id: jti, expires_at: claims.exp * 1000 })
    }

    pub fn verify(&self, token: &str, now: Millis) -> Result<Session, SessionError> {
        let validation = strict_validation(Algorithm::HS256, AUDIENCE, &self.issuer);
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .map_err(|_| SessionError::Invalid)?;
        let c = data.claims;
        if c.typ != TYPE {
            return Err(SessionError::Invalid);
        }
        if !is_current(c.iat, c.exp, now / 1000) {
            return Err(SessionError::Expired);
        }
        let user_id = UserId::parse(&c.sub).ok_or(SessionError::Invalid)?;
        Ok(Session {
            id: c.jti,
            user_id,
            method: c.amr,
            expires_at: (c.exp + LEEWAY_SECS) * 1000,
            csrf: c.csrf,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys::new(&[7u8; 32], "http://localhost:3000".into(), 3600)
    }

    #[test]
    fn issued_sessions_verify_until_they_expire() -> anyhow::Result<()> {
        let k = keys();
        let user = UserId::generate();
        let t = k.issue(&user, SignInMethod::Passkey, None, 1_000_000)?.token;
        let s = k.verify(&t, 1_000_000);
        assert_eq!(s.map(|s| (s.user_id, s.method)), Ok((user, SignInMethod::Passkey)));
        assert_eq!(k.verify(&t, 1_000_000 + 3_600_000 + 4_000).err(), None);
        assert_eq!(k.verify(&t, 1_000_000 + 3_600_000 + 6_000), Err(SessionError::Expired));
        Ok(())
    }

    #[test]
    fn another_secret_or_issuer_is_refused() -> anyhow::Result<()> {
        let t = keys().issue(&UserId::generate(), SignInMethod::Email, None, 0)?.token;
        let other = SessionKeys::new(&[8u8; 32], "http://localhost:3000".into(), 3600);
        assert_eq!(other.verify(&t, 0), Err(SessionError::Invalid));
        let other_iss = SessionKeys::new(&[7u8; 32], "https://elsewhere".into(), 3600);
        assert_eq!(other_iss.verify(&t, 0), Err(SessionError::Invalid));
        Ok(())
    }
}
