//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677; Kafka's KIP-84): the stored
//! credential, and the server side of one authentication exchange. Pure: no I/O, the random
//! nonce is given by the caller.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};

/// Kafka's bounds on the iteration count (`ScramMechanism.minIterations`/`maxIterations`).
pub const MIN_ITERATIONS: i32 = 4096;
pub const MAX_ITERATIONS: i32 = 16384;

/// The two SCRAM mechanisms Kafka offers, with their ids in AlterUserScramCredentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

impl ScramMechanism {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SCRAM-SHA-256",
            Self::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// Kafka's `ScramMechanism.type` (1 and 2; 0 is UNKNOWN).
    pub fn id(self) -> i8 {
        match self {
            Self::Sha256 => 1,
            Self::Sha512 => 2,
        }
    }

    pub fn from_id(id: i8) -> Option<Self> {
        match id {
            1 => Some(Self::Sha256),
            2 => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "SCRAM-SHA-256" => Some(Self::Sha256),
            "SCRAM-SHA-512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => Sha256::digest(data).to_vec(),
            Self::Sha512 => Sha512::digest(data).to_vec(),
        }
    }

    fn hmac(self, key: &[u8], data: &[u8]) -> Vec<u8> {
        // HMAC takes a key of any length: `new_from_slice` cannot fail.
        match self {
            Self::Sha256 => {
                let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("any HMAC key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
            Self::Sha512 => {
                let mut mac = <Hmac<Sha512>>::new_from_slice(key).expect("any HMAC key length");
                mac.update(data);
                mac.finalize().into_bytes().to_vec()
            }
        }
    }

    /// RFC 5802's Hi(): PBKDF2 with this mechanism's HMAC.
    pub fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        match self {
            Self::Sha256 => {
                let mut out = [0u8; 32];
                pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out);
                out.to_vec()
            }
            Self::Sha512 => {
                let mut out = [0u8; 64];
                pbkdf2::pbkdf2_hmac::<Sha512>(password, salt, iterations, &mut out);
                out.to_vec()
            }
        }
    }
}

/// What the broker keeps of a SCRAM password (Kafka's UserScramCredentialRecord): never the
/// password, only what verifies a proof of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramCredential {
    pub mechanism: ScramMechanism,
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl ScramCredential {
    /// From the salted password AlterUserScramCredentials carries (the client salts it).
    pub fn from_salted_password(
        mechanism: ScramMechanism,
        salt: Vec<u8>,
        salted_password: &[u8],
        iterations: i32,
    ) -> Self {
        let client_key = mechanism.hmac(salted_password, b"Client Key");
        ScramCredential {
            mechanism,
            stored_key: mechanism.hash(&client_key),
            server_key: mechanism.hmac(salted_password, b"Server Key"),
            salt,
            iterations,
        }
    }

    /// From a password (tools and tests; the broker never sees one for SCRAM).
    pub fn from_password(
        mechanism: ScramMechanism,
        password: &str,
        salt: Vec<u8>,
        iterations: i32,
    ) -> Self {
        let salted =
            mechanism.salted_password(password.as_bytes(), &salt, iterations.max(1) as u32);
        Self::from_salted_password(mechanism, salt, &salted, iterations)
    }
}

/// Why a SCRAM exchange failed. The client is told only that authentication failed (as
/// Kafka does); the log line says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("SCRAM extensions are not supported (delegation tokens)")]
    Extensions,
    #[error("no {mechanism} credential for user {user}")]
    UnknownUser {
        user: String,
        mechanism: &'static str,
    },
    #[error("the client's nonce does not match the exchange")]
    NonceMismatch,
    #[error("channel binding is not supported")]
    ChannelBinding,
    #[error("wrong password for user {0}")]
    BadProof(String),
}

/// The server's state between the client's first and final messages.
#[derive(Debug)]
pub struct ScramExchange {
    mechanism: ScramMechanism,
    user: String,
    credential: ScramCredential,
    client_first_bare: String,
    server_first: String,
    nonce: String,
}

impl ScramExchange {
    /// Reads the client-first message and answers server-first. `lookup` finds the user's
    /// credential; `server_nonce` is fresh randomness (printable, no commas).
    pub fn start(
        mechanism: ScramMechanism,
        client_first: &[u8],
        server_nonce: &str,
        lookup: impl FnOnce(&str) -> Option<ScramCredential>,
    ) -> Result<(Self, Vec<u8>), ScramError> {
        let text = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("UTF-8"))?;
        // gs2-header: "n,," or "n,a=authzid," (y/p: channel binding, which Kafka refuses too).
        let (flag, rest) = text
            .split_once(',')
            .ok_or(ScramError::Malformed("gs2 header"))?;
        match flag {
            "n" | "y" => {}
            _ if flag.starts_with("p=") => return Err(ScramError::ChannelBinding),
            _ => return Err(ScramError::Malformed("gs2 flag")),
        }
        let (_authzid, bare) = rest
            .split_once(',')
            .ok_or(ScramError::Malformed("gs2 header"))?;
        let mut user = None;
        let mut client_nonce = None;
        for (i, attribute) in bare.split(',').enumerate() {
            match (i, attribute.split_once('=')) {
                (0, Some(("n", name))) => user = Some(decode_saslname(name)?),
                (1, Some(("r", nonce))) if !nonce.is_empty() => client_nonce = Some(nonce),
                (_, Some(("m", _))) => return Err(ScramError::Malformed("mandatory extension")),
                // Kafka's only extension is tokenauth (delegation tokens), not offered here.
                (_, Some(_)) if i >= 2 => return Err(ScramError::Extensions),
                _ => return Err(ScramError::Malformed("client-first attributes")),
            }
        }
        let user = user.ok_or(ScramError::Malformed("no user name"))?;
        let client_nonce = client_nonce.ok_or(ScramError::Malformed("no nonce"))?;
        let credential = lookup(&user)
            .filter(|c| c.mechanism == mechanism)
            .ok_or_else(|| ScramError::UnknownUser {
                user: user.clone(),
                mechanism: mechanism.name(),
            })?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!(
            "r={nonce},s={},i={}",
            BASE64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        Ok((
            ScramExchange {
                mechanism,
                user,
                credential,
                client_first_bare: bare.to_string(),
                server_first,
                nonce,
            },
            reply,
        ))
    }

    /// Reads the client-final message: on a valid proof, the user and server-final.
    pub fn finish(self, client_final: &[u8]) -> Result<(String, Vec<u8>), ScramError> {
        let text = std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("UTF-8"))?;
        let (without_proof, proof) = text
            .rsplit_once(",p=")
            .ok_or(ScramError::Malformed("no proof"))?;
        let mut attributes = without_proof.split(',');
        let binding = attributes
            .next()
            .and_then(|a| a.strip_prefix("c="))
            .ok_or(ScramError::Malformed("no channel binding attribute"))?;
        let nonce = attributes
            .next()
            .and_then(|a| a.strip_prefix("r="))
            .ok_or(ScramError::Malformed("no nonce"))?;
        // Kafka's check (ScramSaslServer): the nonce ends with the exchange's. librdkafka sends
        // its client nonce again in front of it.
        if !nonce.ends_with(&self.nonce) {
            return Err(ScramError::NonceMismatch);
        }
        // "biws" is base64("n,,"); with an authzid the header differs, so only decode it.
        BASE64
            .decode(binding)
            .map_err(|_| ScramError::Malformed("channel binding base64"))?;
        let proof = BASE64
            .decode(proof)
            .map_err(|_| ScramError::Malformed("proof base64"))?;
        let auth_message = format!(
            "{},{},{}",
            self.client_first_bare, self.server_first, without_proof
        );
        let mechanism = self.mechanism;
        let signature = mechanism.hmac(&self.credential.stored_key, auth_message.as_bytes());
        if proof.len() != signature.len() {
            return Err(ScramError::BadProof(self.user));
        }
        let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(p, s)| p ^ s).collect();
        if !constant_time_eq(&mechanism.hash(&client_key), &self.credential.stored_key) {
            return Err(ScramError::BadProof(self.user));
        }
        let server_signature = mechanism.hmac(&self.credential.server_key, auth_message.as_bytes());
        let server_final = format!("v={}", BASE64.encode(server_signature));
        Ok((self.user, server_final.into_bytes()))
    }
}

/// The client's side of a SCRAM exchange (RFC 5802; the tools' logins): client-first, then
/// client-final from the server's first message, then the server's signature checked.
#[derive(Debug)]
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    expected_server_signature: Option<Vec<u8>>,
}

impl ScramClient {
    /// The exchange for `user`, and the client-first message. `nonce` is fresh randomness
    /// (printable, no commas).
    pub fn start(
        mechanism: ScramMechanism,
        user: &str,
        password: &str,
        nonce: &str,
    ) -> (Self, Vec<u8>) {
        let name = user.replace('=', "=3D").replace(',', "=2C");
        let client_first_bare = format!("n={name},r={nonce}");
        let message = format!("n,,{client_first_bare}").into_bytes();
        let client = ScramClient {
            mechanism,
            password: password.to_string(),
            client_nonce: nonce.to_string(),
            client_first_bare,
            expected_server_signature: None,
        };
        (client, message)
    }

    /// Reads server-first (nonce, salt, iterations) and answers client-final with the proof.
    pub fn respond(&mut self, server_first: &[u8]) -> Result<Vec<u8>, ScramError> {
        let text = std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("UTF-8"))?;
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for attribute in text.split(',') {
            match attribute.split_once('=') {
                Some(("r", value)) => nonce = Some(value),
                Some(("s", value)) => salt = Some(value),
                Some(("i", value)) => iterations = value.parse::<u32>().ok(),
                _ => {}
            }
        }
        let nonce = nonce.ok_or(ScramError::Malformed("no nonce"))?;
        if !nonce.starts_with(&self.client_nonce) {
            return Err(ScramError::NonceMismatch);
        }
        let salt = BASE64
            .decode(salt.ok_or(ScramError::Malformed("no salt"))?)
            .map_err(|_| ScramError::Malformed("salt base64"))?;
        let iterations = iterations
            .filter(|i| (1..=MAX_ITERATIONS as u32).contains(i))
            .ok_or(ScramError::Malformed("iterations"))?;
        let mechanism = self.mechanism;
        let salted = mechanism.salted_password(self.password.as_bytes(), &salt, iterations);
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let without_proof = format!("c=biws,r={nonce}");
        let auth_message = format!("{},{text},{without_proof}", self.client_first_bare);
        let signature = mechanism.hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = mechanism.hmac(&salted, b"Server Key");
        self.expected_server_signature = Some(mechanism.hmac(&server_key, auth_message.as_bytes()));
        Ok(format!("{without_proof},p={}", BASE64.encode(proof)).into_bytes())
    }

    /// Checks server-final: the server, too, knew the credential.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text = std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("UTF-8"))?;
        let signature = text
            .strip_prefix("v=")
            .and_then(|v| BASE64.decode(v).ok())
            .ok_or(ScramError::Malformed("server-final"))?;
        match &self.expected_server_signature {
            Some(expected) if constant_time_eq(expected, &signature) => Ok(()),
            _ => Err(ScramError::Malformed("server signature")),
        }
    }
}

/// RFC 5802's saslname: "=2C" is ',' and "=3D" is '='; any other '=' is malformed.
fn decode_saslname(name: &str) -> Result<String, ScramError> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match rest.get(at..at + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return Err(ScramError::Malformed("user name escape")),
        }
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    if out.is_empty() {
        return Err(ScramError::Malformed("empty user name"));
    }
    Ok(out)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod client_tests {
    use super::*;

    #[test]
    fn the_client_logs_in_against_the_server_side() {
        for mechanism in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            let credential =
                ScramCredential::from_password(mechanism, "pencil", b"salt-salt".to_vec(), 4096);
            let (mut client, first) = ScramClient::start(mechanism, "us,er", "pencil", "abc");
            let (exchange, server_first) = ScramExchange::start(mechanism, &first, "xyz", |user| {
                (user == "us,er").then(|| credential.clone())
            })
            .unwrap();
            let client_final = client.respond(&server_first).unwrap();
            let (user, server_final) = exchange.finish(&client_final).unwrap();
            assert_eq!(user, "us,er");
            assert_eq!(client.verify(&server_final), Ok(()));
            assert!(
                client.verify(b"v=AAAA").is_err(),
                "a forged server signature"
            );
        }
        let credential =
            ScramCredential::from_password(ScramMechanism::Sha256, "right", b"s".to_vec(), 4096);
        let (mut client, first) = ScramClient::start(ScramMechanism::Sha256, "u", "wrong", "n1");
        let (exchange, server_first) =
            ScramExchange::start(ScramMechanism::Sha256, &first, "n2", |_| Some(credential))
                .unwrap();
        let client_final = client.respond(&server_first).unwrap();
        assert!(matches!(
            exchange.finish(&client_final),
            Err(ScramError::BadProof(_))
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client's side of the exchange, as RFC 5802 describes it.
    fn client_final(
        mechanism: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let mut salt = None;
        let mut iterations = None;
        let mut nonce = None;
        for attribute in server_first.split(',') {
            match attribute.split_once('=') {
                Some(("r", v)) => nonce = Some(v.to_string()),
                Some(("s", v)) => salt = Some(BASE64.decode(v).unwrap()),
                Some(("i", v)) => iterations = Some(v.parse::<u32>().unwrap()),
                _ => {}
            }
        }
        let salted =
            mechanism.salted_password(password.as_bytes(), &salt.unwrap(), iterations.unwrap());
        let client_key = mechanism.hmac(&salted, b"Client Key");
        let stored_key = mechanism.hash(&client_key);
        let without_proof = format!("c=biws,r={}", nonce.unwrap());
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let signature = mechanism.hmac(&stored_key, auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        format!("{without_proof},p={}", BASE64.encode(proof))
    }

    /// RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil".
    #[test]
    fn the_rfc_7677_example_verifies() {
        let salt = BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let credential =
            ScramCredential::from_password(ScramMechanism::Sha256, "pencil", salt, 4096);
        let (exchange, server_first) = ScramExchange::start(
            ScramMechanism::Sha256,
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0",
            |_| Some(credential.clone()),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(server_first).unwrap(),
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let (user, server_final) = exchange
            .finish(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        assert_eq!(user, "user");
        assert_eq!(
            String::from_utf8(server_final).unwrap(),
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
    }

    #[test]
    fn sha512_round_trips_and_a_wrong_password_fails() {
        let mechanism = ScramMechanism::Sha512;
        let credential =
            ScramCredential::from_password(mechanism, "secret", b"salty".to_vec(), 4096);
        for (password, ok) in [("secret", true), ("Secret", false)] {
            let bare = "n=al=2Cice,r=abc";
            let (exchange, server_first) =
                ScramExchange::start(mechanism, format!("n,,{bare}").as_bytes(), "xyz", |user| {
                    (user == "al,ice").then(|| credential.clone())
                })
                .unwrap();
            let server_first = String::from_utf8(server_first).unwrap();
            let last = client_final(mechanism, password, bare, &server_first);
            let result = exchange.finish(last.as_bytes());
            assert_eq!(result.is_ok(), ok, "{result:?}");
            if !ok {
                assert_eq!(result.unwrap_err(), ScramError::BadProof("al,ice".into()));
            }
        }
    }

    #[test]
    fn unknown_users_other_mechanisms_and_extensions_are_refused() {
        let credential =
            ScramCredential::from_password(ScramMechanism::Sha256, "pw", b"s".to_vec(), 4096);
        let start = |mechanism, first: &str| {
            ScramExchange::start(mechanism, first.as_bytes(), "n", |u| {
                (u == "bob").then(|| credential.clone())
            })
            .map(|_| ())
        };
        assert!(matches!(
            start(ScramMechanism::Sha256, "n,,n=eve,r=a"),
            Err(ScramError::UnknownUser { .. })
        ));
        assert!(matches!(
            start(ScramMechanism::Sha512, "n,,n=bob,r=a"),
            Err(ScramError::UnknownUser { .. })
        ));
        assert_eq!(
            start(ScramMechanism::Sha256, "n,,n=bob,r=a,tokenauth=true"),
            Err(ScramError::Extensions)
        );
        for bad in ["", "n,,", "n,,r=a", "x,,n=bob,r=a", "n,,n=b=ob,r=a"] {
            assert!(start(ScramMechanism::Sha256, bad).is_err(), "{bad}");
        }
        assert!(start(ScramMechanism::Sha256, "n,,n=bob,r=a").is_ok());
    }

    #[test]
    fn a_replayed_nonce_is_refused() {
        let mechanism = ScramMechanism::Sha256;
        let credential = ScramCredential::from_password(mechanism, "pw", b"s".to_vec(), 4096);
        let (exchange, _) = ScramExchange::start(mechanism, b"n,,n=bob,r=a", "server", |_| {
            Some(credential.clone())
        })
        .unwrap();
        assert_eq!(
            exchange.finish(b"c=biws,r=aother,p=AAAA").unwrap_err(),
            ScramError::NonceMismatch
        );
    }
}
