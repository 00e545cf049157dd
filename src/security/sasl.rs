//! The server side of SASL as Kafka runs it (SaslHandshake, then SaslAuthenticate tokens):
//! mechanisms PLAIN (RFC 4616) and SCRAM-SHA-256/512 (KIP-84). Pure decision logic: the
//! connection code in `net::authenticate` moves the tokens.

use super::scram::{ScramCredential, ScramError, ScramExchange, ScramMechanism};

/// A SASL mechanism the broker offers (`sasl.enabled.mechanisms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    Plain,
    Scram(ScramMechanism),
}

impl SaslMechanism {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PLAIN" => Some(Self::Plain),
            other => ScramMechanism::from_name(other).map(Self::Scram),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::Scram(m) => m.name(),
        }
    }
}

/// Where the broker finds what a client must prove.
pub trait CredentialSource {
    /// A PLAIN user's password (`sasl.plain.users`).
    fn plain_password(&self, user: &str) -> Option<String>;
    /// A SCRAM credential (cluster metadata, AlterUserScramCredentials).
    fn scram_credential(&self, user: &str, mechanism: ScramMechanism) -> Option<ScramCredential>;
}

/// Why authentication failed: logged with the peer; the client hears only
/// SASL_AUTHENTICATION_FAILED, as from Kafka.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    #[error("malformed PLAIN message")]
    MalformedPlain,
    #[error("PLAIN authorization id {authzid} differs from the user name {user}")]
    PlainAuthzid { user: String, authzid: String },
    #[error("no PLAIN user {0}")]
    UnknownPlainUser(String),
    #[error("wrong password for PLAIN user {0}")]
    BadPlainPassword(String),
    #[error(transparent)]
    Scram(#[from] ScramError),
}

/// What the client is sent after a token.
#[derive(Debug, PartialEq, Eq)]
pub enum SaslStep {
    /// Another round: this challenge, then the client's next token.
    Challenge(Vec<u8>),
    /// Authenticated as `user`; `reply` is the last token to send (empty for PLAIN).
    Authenticated { user: String, reply: Vec<u8> },
}

/// One authentication exchange in progress.
#[derive(Debug)]
pub enum SaslExchange {
    /// Waiting for the first token of this mechanism.
    Start(SaslMechanism),
    /// SCRAM after server-first, waiting for client-final.
    ScramFinal(Box<ScramExchange>),
}

impl SaslExchange {
    pub fn new(mechanism: SaslMechanism) -> Self {
        SaslExchange::Start(mechanism)
    }

    /// Takes the client's next token; `nonce` makes the server's SCRAM nonce when needed.
    /// On `Challenge` the exchange goes on with the returned state.
    pub fn step(
        self,
        token: &[u8],
        credentials: &dyn CredentialSource,
        nonce: impl FnOnce() -> String,
    ) -> Result<(SaslStep, Option<SaslExchange>), SaslError> {
        match self {
            SaslExchange::Start(SaslMechanism::Plain) => {
                let user = check_plain(token, credentials)?;
                Ok((
                    SaslStep::Authenticated {
                        user,
                        reply: Vec::new(),
                    },
                    None,
                ))
            }
            SaslExchange::Start(SaslMechanism::Scram(mechanism)) => {
                let (exchange, server_first) =
                    ScramExchange::start(mechanism, token, &nonce(), |user| {
                        credentials.scram_credential(user, mechanism)
                    })?;
                Ok((
                    SaslStep::Challenge(server_first),
                    Some(SaslExchange::ScramFinal(Box::new(exchange))),
                ))
            }
            SaslExchange::ScramFinal(exchange) => {
                let (user, reply) = exchange.finish(token)?;
                Ok((SaslStep::Authenticated { user, reply }, None))
            }
        }
    }
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`. Kafka refuses an authzid other than the user.
fn check_plain(token: &[u8], credentials: &dyn CredentialSource) -> Result<String, SaslError> {
    let text = std::str::from_utf8(token).map_err(|_| SaslError::MalformedPlain)?;
    let mut parts = text.split('\0');
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SaslError::MalformedPlain);
    };
    if user.is_empty() || password.is_empty() {
        return Err(SaslError::MalformedPlain);
    }
    if !authzid.is_empty() && authzid != user {
        return Err(SaslError::PlainAuthzid {
            user: user.to_string(),
            authzid: authzid.to_string(),
        });
    }
    let expected = credentials
        .plain_password(user)
        .ok_or_else(|| SaslError::UnknownPlainUser(user.to_string()))?;
    let equal = expected.len() == password.len()
        && expected
            .bytes()
            .zip(password.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !equal {
        return Err(SaslError::BadPlainPassword(user.to_string()));
    }
    Ok(user.to_string())
}

/// A fresh SCRAM server nonce: 18 random bytes as 24 base64 characters (never a comma).
pub fn server_nonce() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 18];
    // getrandom(2) does not block once the kernel's pool is initialized (long before a
    // broker serves); a failure leaves zeros, which only weakens this one exchange's nonce.
    if getrandom::getrandom(&mut bytes).is_err() {
        tracing::warn!("getrandom failed: a SCRAM nonce without randomness");
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Users;

    impl CredentialSource for Users {
        fn plain_password(&self, user: &str) -> Option<String> {
            (user == "alice").then(|| "alice-secret".to_string())
        }
        fn scram_credential(
            &self,
            user: &str,
            mechanism: ScramMechanism,
        ) -> Option<ScramCredential> {
            (user == "bob").then(|| {
                ScramCredential::from_password(mechanism, "bob-secret", b"salt".to_vec(), 4096)
            })
        }
    }

    fn plain(token: &[u8]) -> Result<SaslStep, SaslError> {
        SaslExchange::new(SaslMechanism::Plain)
            .step(token, &Users, || unreachable!())
            .map(|(step, next)| {
                assert!(next.is_none());
                step
            })
    }

    #[test]
    fn plain_checks_the_user_and_password() {
        assert_eq!(
            plain(b"\0alice\0alice-secret").unwrap(),
            SaslStep::Authenticated {
                user: "alice".into(),
                reply: Vec::new()
            }
        );
        assert!(plain(b"alice\0alice\0alice-secret").is_ok());
        assert_eq!(
            plain(b"\0alice\0wrong").unwrap_err(),
            SaslError::BadPlainPassword("alice".into())
        );
        assert_eq!(
            plain(b"\0mallory\0x").unwrap_err(),
            SaslError::UnknownPlainUser("mallory".into())
        );
        assert!(matches!(
            plain(b"bob\0alice\0alice-secret").unwrap_err(),
            SaslError::PlainAuthzid { .. }
        ));
        for bad in [
            &b""[..],
            b"alice",
            b"\0alice",
            b"\0alice\0",
            b"\0\0pw",
            b"a\0b\0c\0d",
        ] {
            assert_eq!(
                plain(bad).unwrap_err(),
                SaslError::MalformedPlain,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn scram_takes_two_rounds() {
        let exchange = SaslExchange::new(SaslMechanism::Scram(ScramMechanism::Sha256));
        let (step, next) = exchange
            .step(b"n,,n=bob,r=client", &Users, || "server".into())
            .unwrap();
        let SaslStep::Challenge(server_first) = step else {
            panic!("{step:?}")
        };
        assert!(String::from_utf8(server_first)
            .unwrap()
            .starts_with("r=clientserver,"));
        let next = next.expect("the exchange goes on");
        // A wrong proof fails (the full exchange is tested in scram.rs).
        let result = next.step(b"c=biws,r=clientserver,p=AAAA", &Users, || unreachable!());
        assert!(matches!(
            result,
            Err(SaslError::Scram(ScramError::BadProof(_)))
        ));
    }

    #[test]
    fn mechanism_names_are_kafkas() {
        for name in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
            assert_eq!(
                SaslMechanism::parse(name).map(SaslMechanism::name),
                Some(name)
            );
        }
        assert_eq!(SaslMechanism::parse("GSSAPI"), None);
        assert_eq!(server_nonce().len(), 24);
    }
}
