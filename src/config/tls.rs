//! Kafka's `ssl.*` broker keys for SSL and SASL_SSL listeners, made into one rustls server
//! configuration at start: PEM key stores and trust stores (`ssl.keystore.type=PEM`, as Kafka
//! 2.7+ reads them, KIP-651), `ssl.client.auth`, `ssl.enabled.protocols` and
//! `ssl.cipher.suites`. Bad files or values are errors naming the key, before anything binds.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::{ConfigError, Settings};

/// The `ssl.*` keys as given (or their defaults), read whether or not a listener uses TLS.
#[derive(Debug, Clone, Default)]
pub struct TlsKeys {
    keystore_type: String,
    keystore_location: Option<String>,
    keystore_certificate_chain: Option<String>,
    keystore_key: Option<String>,
    key_password: Option<String>,
    truststore_type: String,
    truststore_location: Option<String>,
    truststore_certificates: Option<String>,
    client_auth: String,
    enabled_protocols: String,
    cipher_suites: String,
}

impl TlsKeys {
    pub fn read(s: &Settings<'_>) -> Self {
        let text = |key: &str| s.text(key).unwrap_or_default().to_string();
        let given = |key: &str| s.given(key).map(str::to_string);
        TlsKeys {
            keystore_type: text("ssl.keystore.type"),
            keystore_location: given("ssl.keystore.location"),
            keystore_certificate_chain: given("ssl.keystore.certificate.chain"),
            keystore_key: given("ssl.keystore.key"),
            key_password: given("ssl.key.password"),
            truststore_type: text("ssl.truststore.type"),
            truststore_location: given("ssl.truststore.location"),
            truststore_certificates: given("ssl.truststore.certificates"),
            client_auth: text("ssl.client.auth"),
            enabled_protocols: text("ssl.enabled.protocols"),
            cipher_suites: text("ssl.cipher.suites"),
        }
    }
}

/// The TLS client configuration a node uses towards the others' TLS listener (`listener`: the
/// inter-broker or the controller listener, named in the error), from the same keys, as
/// Kafka's: the trust store verifies their certificates (it is required), the key store is
/// this node's client certificate.
pub fn client_config(
    s: &TlsKeys,
    listener: &str,
) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let roots = trust_store(s)?.ok_or_else(|| {
        ConfigError::invalid(
            "ssl.truststore.location",
            "",
            format!("a TLS {listener} needs the CA the other nodes' certificates chain to"),
        )
    })?;
    let (chain, key) = key_store(s)?;
    let provider = Arc::new(crypto_provider(s)?);
    let versions = protocol_versions(s)?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| ConfigError::invalid("ssl.cipher.suites", &s.cipher_suites, e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| ConfigError::invalid("ssl.keystore.location", "", e.to_string()))?;
    Ok(Arc::new(config))
}

/// `ssl.client.auth` (Kafka's values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

/// Builds the TLS server configuration from the `ssl.*` keys.
pub fn server_config(s: &TlsKeys) -> Result<Arc<rustls::ServerConfig>, ConfigError> {
    for (key, value) in [
        ("ssl.keystore.type", s.keystore_type.as_str()),
        ("ssl.truststore.type", s.truststore_type.as_str()),
    ] {
        if value != "PEM" {
            return Err(ConfigError::invalid(
                key,
                value,
                "Weir reads PEM key and trust stores (Kafka's ssl.keystore.type=PEM); convert JKS or PKCS12 with keytool and openssl",
            ));
        }
    }
    if s.key_password.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ConfigError::invalid(
            "ssl.key.password",
            "(hidden)",
            "encrypted private keys are not supported: give an unencrypted PKCS#8 or RSA/EC key",
        ));
    }
    let (chain, key) = key_store(s)?;
    let roots = trust_store(s)?;
    let client_auth = match s.client_auth.as_str() {
        "none" => ClientAuth::None,
        "requested" => ClientAuth::Requested,
        "required" => ClientAuth::Required,
        other => {
            return Err(ConfigError::invalid(
                "ssl.client.auth",
                other,
                "none, requested or required",
            ))
        }
    };
    let provider = Arc::new(crypto_provider(s)?);
    let versions = protocol_versions(s)?;
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| {
            ConfigError::invalid(
                "ssl.cipher.suites",
                &s.cipher_suites,
                format!("no cipher suite for the enabled protocols: {e}"),
            )
        })?;
    let builder =
        match (client_auth, roots) {
            (ClientAuth::None, _) => builder.with_no_client_auth(),
            (_, None) => return Err(ConfigError::invalid(
                "ssl.client.auth",
                &s.client_auth,
                "client certificates need ssl.truststore.location or ssl.truststore.certificates",
            )),
            (auth, Some(roots)) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                );
                let verifier = match auth {
                    ClientAuth::Requested => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                let verifier = verifier.build().map_err(|e| {
                    ConfigError::invalid("ssl.truststore.location", "", e.to_string())
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| ConfigError::invalid("ssl.keystore.location", "", e.to_string()))?;
    Ok(Arc::new(config))
}

/// The certificate chain and private key: `ssl.keystore.location` (one PEM file holding both,
/// as Kafka's PEM key store) or `ssl.keystore.certificate.chain` + `ssl.keystore.key` (PEM text).
fn key_store(
    s: &TlsKeys,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ConfigError> {
    let (key_name, pem) = match (
        s.keystore_location.as_deref(),
        s.keystore_certificate_chain.as_deref(),
        s.keystore_key.as_deref(),
    ) {
        (Some(path), None, None) => (
            "ssl.keystore.location",
            std::fs::read(path).map_err(|e| {
                ConfigError::invalid("ssl.keystore.location", path, e.to_string())
            })?,
        ),
        (None, Some(chain), Some(key)) => (
            "ssl.keystore.certificate.chain",
            format!("{chain}\n{key}").into_bytes(),
        ),
        _ => {
            return Err(ConfigError::invalid(
                "ssl.keystore.location",
                s.keystore_location.as_deref().unwrap_or(""),
                "an SSL or SASL_SSL listener needs ssl.keystore.location, or ssl.keystore.certificate.chain with ssl.keystore.key",
            ))
        }
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| ConfigError::invalid(key_name, "", format!("certificates: {e}")))?;
    if chain.is_empty() {
        return Err(ConfigError::invalid(key_name, "", "no certificate in it"));
    }
    let key = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| ConfigError::invalid(key_name, "", format!("private key: {e}")))?;
    Ok((chain, key))
}

/// `ssl.truststore.location` (a PEM file of CA certificates) or `ssl.truststore.certificates`
/// (their PEM text): whom client certificates must chain to.
fn trust_store(s: &TlsKeys) -> Result<Option<rustls::RootCertStore>, ConfigError> {
    let (key, pem) = match (
        s.truststore_location.as_deref(),
        s.truststore_certificates.as_deref(),
    ) {
        (Some(path), _) => (
            "ssl.truststore.location",
            std::fs::read(path).map_err(|e| {
                ConfigError::invalid("ssl.truststore.location", path, e.to_string())
            })?,
        ),
        (None, Some(text)) => ("ssl.truststore.certificates", text.as_bytes().to_vec()),
        (None, None) => return Ok(None),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| ConfigError::invalid(key, "", e.to_string()))?;
        roots
            .add(cert)
            .map_err(|e| ConfigError::invalid(key, "", e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(ConfigError::invalid(key, "", "no CA certificate in it"));
    }
    Ok(Some(roots))
}

/// `ssl.enabled.protocols`: TLSv1.2 and TLSv1.3 (rustls offers nothing older).
fn protocol_versions(
    s: &TlsKeys,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, ConfigError> {
    let text = s.enabled_protocols.as_str();
    let mut versions = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        versions.push(match name {
            "TLSv1.2" => &rustls::version::TLS12,
            "TLSv1.3" => &rustls::version::TLS13,
            other => {
                return Err(ConfigError::invalid(
                    "ssl.enabled.protocols",
                    text,
                    format!("{other}: Weir offers TLSv1.2 and TLSv1.3"),
                ))
            }
        });
    }
    if versions.is_empty() {
        return Err(ConfigError::invalid(
            "ssl.enabled.protocols",
            text,
            "no protocol",
        ));
    }
    Ok(versions)
}

/// ring's suites, limited to `ssl.cipher.suites` when given (IANA names, as Java and Kafka
/// spell them: TLS_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, ...).
fn crypto_provider(s: &TlsKeys) -> Result<rustls::crypto::CryptoProvider, ConfigError> {
    // ring, not aws-lc-rs: no C toolchain (cmake) in the build. rustls deprecates ring's
    // provider only for its lack of post-quantum key exchange.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    let text = s.cipher_suites.as_str();
    let wanted: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if wanted.is_empty() {
        return Ok(provider);
    }
    // rustls names TLS 1.3 suites TLS13_*; IANA (and Java) TLS_*.
    let iana = |suite: &rustls::SupportedCipherSuite| {
        let name = suite.suite().as_str().unwrap_or_default().to_string();
        name.replacen("TLS13_", "TLS_", 1)
    };
    for name in &wanted {
        if !provider.cipher_suites.iter().any(|s| iana(s) == *name) {
            let known: Vec<String> = provider.cipher_suites.iter().map(iana).collect();
            return Err(ConfigError::invalid(
                "ssl.cipher.suites",
                text,
                format!("{name} is not offered; the suites are {}", known.join(", ")),
            ));
        }
    }
    provider
        .cipher_suites
        .retain(|s| wanted.contains(&iana(s).as_str()));
    Ok(provider)
}
