//! `--command-config FILE`: the client properties Kafka's tools take (`security.protocol`,
//! `sasl.mechanism`, `sasl.jaas.config` or librdkafka's `sasl.username`/`sasl.password`, PEM
//! trust and key stores), for tools talking to a SASL or TLS listener. The requests the tools
//! send themselves (`weir acl`, `weir quota`, `weir user`, `weir cluster`) log in here, with
//! SASL PLAIN or SCRAM and TLS through rustls; the librdkafka-based tools get the same settings
//! in librdkafka's names.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use super::raw_client::RawClient;
use super::ToolError;
use crate::security::scram::{ScramClient, ScramMechanism};

/// A SASL login: the mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and the user's secret.
#[derive(Debug, Clone)]
pub struct SaslLogin {
    pub mechanism: String,
    pub username: String,
    pub password: String,
}

/// What `--command-config` says about reaching the brokers.
#[derive(Debug, Clone, Default)]
pub struct ClientSecurity {
    /// PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    pub protocol: String,
    pub sasl: Option<SaslLogin>,
    /// PEM CA certificates the broker's certificate must chain to.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate chain and key (mutual TLS); one file may hold both.
    pub certificate: Option<(PathBuf, PathBuf)>,
}

/// A stream the tools' requests go over: TCP, or TLS over TCP.
pub trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

impl ClientSecurity {
    /// clap's parser of `--command-config`: the file read and checked at once.
    pub fn from_file_arg(path: &str) -> Result<ClientSecurity, String> {
        Self::load(Path::new(path)).map_err(|e| e.to_string())
    }

    pub fn load(path: &Path) -> Result<ClientSecurity, ToolError> {
        let text = std::fs::read_to_string(path).map_err(|source| ToolError::Io {
            what: "the --command-config file",
            source,
        })?;
        let properties = crate::config::parse_properties(&path.display().to_string(), &text)
            .map_err(|e| ToolError::Usage(format!("--command-config: {e}")))?;
        Self::from_properties(&properties)
    }

    fn from_properties(
        properties: &std::collections::BTreeMap<String, String>,
    ) -> Result<ClientSecurity, ToolError> {
        let usage = |text: String| ToolError::Usage(format!("--command-config: {text}"));
        let get = |key: &str| properties.get(key).map(|v| v.trim().to_string());
        for key in properties.keys() {
            if !KNOWN_KEYS.contains(&key.as_str()) {
                return Err(usage(format!(
                    "{key} is not a setting the weir tools use (they take: {})",
                    KNOWN_KEYS.join(", ")
                )));
            }
        }
        for key in ["ssl.truststore.type", "ssl.keystore.type"] {
            if let Some(kind) = get(key).filter(|t| !t.eq_ignore_ascii_case("PEM")) {
                return Err(usage(format!("{key}={kind}: only PEM stores are read")));
            }
        }
        let protocol = get("security.protocol")
            .unwrap_or_else(|| "PLAINTEXT".into())
            .to_ascii_uppercase();
        if !["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"].contains(&protocol.as_str()) {
            return Err(usage(format!(
                "security.protocol={protocol}: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"
            )));
        }
        let sasl = match protocol.starts_with("SASL_") {
            false => None,
            true => {
                let mechanism = get("sasl.mechanism").unwrap_or_else(|| "GSSAPI".into());
                if mechanism != "PLAIN" && ScramMechanism::from_name(&mechanism).is_none() {
                    return Err(usage(format!(
                        "sasl.mechanism={mechanism}: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"
                    )));
                }
                let jaas = get("sasl.jaas.config")
                    .map(|text| crate::config::jaas::JaasEntry::parse(&text))
                    .transpose()
                    .map_err(|reason| usage(format!("sasl.jaas.config: {reason}")))?;
                let option = |name: &str| jaas.as_ref().and_then(|e| e.options.get(name).cloned());
                let (jaas_user, jaas_password) = (option("username"), option("password"));
                let username = get("sasl.username").or(jaas_user);
                let password = get("sasl.password").or(jaas_password);
                let (Some(username), Some(password)) = (username, password) else {
                    return Err(usage(
                        "a SASL login needs sasl.username and sasl.password, or sasl.jaas.config with username=\"...\" password=\"...\"".into(),
                    ));
                };
                Some(SaslLogin {
                    mechanism,
                    username,
                    password,
                })
            }
        };
        let ca_file = get("ssl.truststore.location")
            .or_else(|| get("ssl.ca.location"))
            .map(PathBuf::from);
        let certificate = match (
            get("ssl.keystore.location"),
            get("ssl.certificate.location"),
            get("ssl.key.location"),
        ) {
            (Some(store), None, None) => Some((PathBuf::from(&store), PathBuf::from(store))),
            (None, Some(cert), Some(key)) => Some((cert.into(), key.into())),
            (None, None, None) => None,
            _ => {
                return Err(usage(
                    "give ssl.keystore.location (key and chain in one PEM file), or ssl.certificate.location with ssl.key.location".into(),
                ))
            }
        };
        Ok(ClientSecurity {
            protocol,
            sasl,
            ca_file,
            certificate,
        })
    }

    /// The same settings in librdkafka's names.
    pub fn librdkafka_settings(&self) -> Vec<(&'static str, String)> {
        let path = |p: &Path| p.display().to_string();
        let mut settings = vec![("security.protocol", self.protocol.clone())];
        if let Some(login) = &self.sasl {
            settings.push(("sasl.mechanism", login.mechanism.clone()));
            settings.push(("sasl.username", login.username.clone()));
            settings.push(("sasl.password", login.password.clone()));
        }
        if let Some(ca) = &self.ca_file {
            settings.push(("ssl.ca.location", path(ca)));
        }
        if let Some((cert, key)) = &self.certificate {
            settings.push(("ssl.certificate.location", path(cert)));
            settings.push(("ssl.key.location", path(key)));
        }
        settings
    }

    /// The connection to `host` made secure as the settings say: TLS first, then the SASL
    /// login (SaslHandshake v1, SaslAuthenticate).
    pub fn secure(&self, tcp: TcpStream, host: &str) -> Result<Box<dyn Stream>, ToolError> {
        let stream: Box<dyn Stream> = match self.protocol.as_str() {
            "SSL" | "SASL_SSL" => Box::new(self.tls(tcp, host)?),
            _ => Box::new(tcp),
        };
        Ok(stream)
    }

    /// Logs in on `client` when the protocol is SASL_*.
    pub fn log_in(&self, client: &mut RawClient) -> Result<(), ToolError> {
        let Some(login) = &self.sasl else {
            return Ok(());
        };
        let handshake: SaslHandshakeResponse = client.request(
            ApiKey::SaslHandshake,
            1,
            &SaslHandshakeRequest::default()
                .with_mechanism(StrBytes::from_string(login.mechanism.clone())),
        )?;
        if handshake.error_code != 0 {
            return Err(ToolError::Usage(format!(
                "SASL mechanism {} refused by the broker ({}); it offers {:?}",
                login.mechanism,
                super::wire_code_name(handshake.error_code),
                handshake
                    .mechanisms
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
            )));
        }
        let mut authenticate = |token: Vec<u8>| -> Result<Vec<u8>, ToolError> {
            let response: SaslAuthenticateResponse = client.request(
                ApiKey::SaslAuthenticate,
                2,
                &SaslAuthenticateRequest::default().with_auth_bytes(token.into()),
            )?;
            if response.error_code != 0 {
                return Err(ToolError::Usage(format!(
                    "SASL login as {} failed: {} {}",
                    login.username,
                    super::wire_code_name(response.error_code),
                    response.error_message.as_deref().unwrap_or("")
                )));
            }
            Ok(response.auth_bytes.to_vec())
        };
        match ScramMechanism::from_name(&login.mechanism) {
            None => {
                let token = format!("\0{}\0{}", login.username, login.password);
                authenticate(token.into_bytes())?;
            }
            Some(mechanism) => {
                let mut nonce = [0u8; 18];
                getrandom::getrandom(&mut nonce)
                    .map_err(|e| ToolError::Usage(format!("no randomness for SCRAM: {e}")))?;
                let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
                let (mut scram, first) =
                    ScramClient::start(mechanism, &login.username, &login.password, &nonce);
                let server_first = authenticate(first)?;
                let scram_error =
                    |e: crate::security::scram::ScramError| ToolError::Usage(format!("SCRAM: {e}"));
                let client_final = scram.respond(&server_first).map_err(scram_error)?;
                let server_final = authenticate(client_final)?;
                scram.verify(&server_final).map_err(scram_error)?;
            }
        }
        Ok(())
    }

    fn tls(
        &self,
        tcp: TcpStream,
        host: &str,
    ) -> Result<rustls::StreamOwned<rustls::ClientConnection, TcpStream>, ToolError> {
        let usage = |text: String| ToolError::Usage(format!("--command-config: {text}"));
        let read = |path: &Path| {
            std::fs::read(path).map_err(|e| usage(format!("{}: {e}", path.display())))
        };
        let mut roots = rustls::RootCertStore::empty();
        let ca = self
            .ca_file
            .as_deref()
            .ok_or_else(|| usage("TLS needs the CA: ssl.truststore.location (PEM)".into()))?;
        for cert in CertificateDer::pem_slice_iter(&read(ca)?) {
            let cert = cert.map_err(|e| usage(format!("{}: {e}", ca.display())))?;
            roots
                .add(cert)
                .map_err(|e| usage(format!("{}: {e}", ca.display())))?;
        }
        // ring, as the broker's TLS (config/tls.rs): deprecated only for lacking post-quantum
        // key exchange.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| usage(e.to_string()))?
            .with_root_certificates(roots);
        let config = match &self.certificate {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_slice_iter(&read(cert)?)
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| usage(format!("{}: {e}", cert.display())))?;
                let key = PrivateKeyDer::from_pem_slice(&read(key)?)
                    .map_err(|e| usage(format!("{}: {e}", key.display())))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| usage(e.to_string()))?
            }
        };
        let name =
            ServerName::try_from(host.to_string()).map_err(|e| usage(format!("{host}: {e}")))?;
        let connection = rustls::ClientConnection::new(Arc::new(config), name)
            .map_err(|e| usage(e.to_string()))?;
        Ok(rustls::StreamOwned::new(connection, tcp))
    }
}

/// The keys `--command-config` understands (Kafka's client names and librdkafka's).
const KNOWN_KEYS: [&str; 12] = [
    "security.protocol",
    "sasl.mechanism",
    "sasl.jaas.config",
    "sasl.username",
    "sasl.password",
    "ssl.truststore.location",
    "ssl.truststore.type",
    "ssl.ca.location",
    "ssl.keystore.location",
    "ssl.keystore.type",
    "ssl.certificate.location",
    "ssl.key.location",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<ClientSecurity, ToolError> {
        ClientSecurity::from_properties(&crate::config::parse_properties("test", text).unwrap())
    }

    #[test]
    fn kafka_and_librdkafka_properties_give_the_same_login() {
        let java = parsed(
            "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\n\
             sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"alice\" password=\"s3cret\";\n\
             ssl.truststore.type=PEM\nssl.truststore.location=/etc/ca.pem\n",
        )
        .unwrap();
        let login = java.sasl.as_ref().unwrap();
        assert_eq!(
            (login.username.as_str(), login.password.as_str()),
            ("alice", "s3cret")
        );
        assert_eq!(java.ca_file.as_deref(), Some(Path::new("/etc/ca.pem")));
        let librdkafka = parsed(
            "security.protocol=sasl_ssl\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=alice\n\
             sasl.password=s3cret\nssl.ca.location=/etc/ca.pem\n",
        )
        .unwrap();
        assert_eq!(java.librdkafka_settings(), librdkafka.librdkafka_settings());
    }

    #[test]
    fn what_the_tools_cannot_use_is_refused_by_name() {
        for (text, named) in [
            (
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=GSSAPI\n",
                "GSSAPI",
            ),
            (
                "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=PLAIN\n",
                "sasl.username",
            ),
            ("ssl.truststore.type=JKS\n", "JKS"),
            ("client.dns.lookup=use_all_dns_ips\n", "client.dns.lookup"),
            (
                "security.protocol=SSL\nssl.certificate.location=/c.pem\n",
                "ssl.key.location",
            ),
        ] {
            let error = parsed(text).unwrap_err().to_string();
            assert!(error.contains(named), "{text}: {error}");
        }
        assert_eq!(parsed("").unwrap().protocol, "PLAINTEXT");
    }
}
