//! Kafka's listener keys: `listeners` (named `NAME://host:port` endpoints), the security
//! protocol each speaks (`listener.security.protocol.map`), what Metadata tells clients of each
//! (`advertised.listeners`), which one brokers reach each other on
//! (`inter.broker.listener.name`) and which one is the quorum's (`controller.listener.names`).

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

use super::ConfigError;

/// Kafka's default `listener.security.protocol.map`: each protocol's own name maps to it.
pub const DEFAULT_PROTOCOL_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// What a listener speaks (Kafka's `SecurityProtocol`, with its wire ids as in
/// BrokerRegistration's `security_protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "PLAINTEXT" => Some(Self::Plaintext),
            "SSL" => Some(Self::Ssl),
            "SASL_PLAINTEXT" => Some(Self::SaslPlaintext),
            "SASL_SSL" => Some(Self::SaslSsl),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }

    /// Kafka's id of the protocol (`SecurityProtocol.id`).
    pub fn id(self) -> i16 {
        match self {
            Self::Plaintext => 0,
            Self::Ssl => 1,
            Self::SaslPlaintext => 2,
            Self::SaslSsl => 3,
        }
    }

    pub fn from_id(id: i16) -> Option<Self> {
        [
            Self::Plaintext,
            Self::Ssl,
            Self::SaslPlaintext,
            Self::SaslSsl,
        ]
        .into_iter()
        .find(|p| p.id() == id)
    }

    /// A client authenticates with SaslHandshake and SaslAuthenticate before anything else.
    pub fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// The connection is TLS.
    pub fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }
}

/// A host and port as given in `listeners` or `advertised.listeners`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvertisedListener {
    pub host: String,
    pub port: u16,
}

/// A listener that serves clients (every one but the controller listener): every shard binds
/// it with SO_REUSEPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientListener {
    /// Its name in `listeners` (PLAINTEXT, or a name of `listener.security.protocol.map`).
    pub name: String,
    pub protocol: SecurityProtocol,
    pub address: SocketAddr,
    /// What Metadata gives clients that came in on this listener; `None` when
    /// `advertised.listeners` is given and does not name it (bound, but not advertised, as in
    /// Kafka).
    pub advertised: Option<AdvertisedListener>,
}

/// The listeners of `listeners`, parsed and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listeners {
    pub client: Vec<ClientListener>,
    /// The controller listener (named by `controller.listener.names`).
    pub controller: Option<SocketAddr>,
    /// The controller listener's protocol, from the map (PLAINTEXT when not mapped, as KRaft):
    /// what voters serve it with and what every node speaks to the voters, broker-only nodes
    /// included, which have no controller listener of their own.
    pub controller_protocol: SecurityProtocol,
}

/// The keys the listeners are made from.
pub struct ListenerKeys<'a> {
    pub listeners: &'a str,
    pub protocol_map: &'a str,
    pub advertised: Option<&'a str>,
    pub controller_name: &'a str,
}

/// Parses `listeners` with its protocol map and advertised endpoints, by Kafka's rules: names
/// unique, every name in the map (the controller listener defaults to PLAINTEXT, as KRaft
/// does), advertised names among the listeners.
pub fn parse(keys: &ListenerKeys<'_>) -> Result<Listeners, ConfigError> {
    let protocols = parse_protocol_map(keys.protocol_map)?;
    let advertised = match keys.advertised {
        Some(text) => Some(parse_endpoints("advertised.listeners", text)?),
        None => None,
    };
    let mut client = Vec::new();
    let mut controller = None;
    for (name, endpoint) in parse_endpoints("listeners", keys.listeners)? {
        let address = resolve("listeners", &endpoint)?;
        if name == keys.controller_name {
            controller = Some(address);
            continue;
        }
        let protocol = protocols.get(name.as_str()).copied().ok_or_else(|| {
            ConfigError::invalid(
                "listener.security.protocol.map",
                keys.protocol_map,
                format!("no security protocol for listener {name} of listeners"),
            )
        })?;
        let advertised = match &advertised {
            Some(given) => given
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, e)| e.clone()),
            None => Some(advertise_bound(&endpoint)),
        };
        client.push(ClientListener {
            name,
            protocol,
            address,
            advertised,
        });
    }
    if let Some(given) = &advertised {
        for (name, _) in given {
            if !client.iter().any(|l| &l.name == name) {
                return Err(ConfigError::invalid(
                    "advertised.listeners",
                    keys.advertised.unwrap_or_default(),
                    format!("{name} is not a client listener of listeners"),
                ));
            }
        }
    }
    let controller_protocol = protocols
        .get(keys.controller_name)
        .copied()
        .unwrap_or(SecurityProtocol::Plaintext);
    Ok(Listeners {
        client,
        controller,
        controller_protocol,
    })
}

/// A wildcard address advertises the host name, as Kafka does.
fn advertise_bound(endpoint: &AdvertisedListener) -> AdvertisedListener {
    let wildcard = endpoint
        .host
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_unspecified());
    AdvertisedListener {
        host: if wildcard {
            host_name()
        } else {
            endpoint.host.clone()
        },
        port: endpoint.port,
    }
}

fn parse_protocol_map(text: &str) -> Result<BTreeMap<String, SecurityProtocol>, ConfigError> {
    let mut map = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let bad = |why: String| ConfigError::invalid("listener.security.protocol.map", text, why);
        let (name, protocol) = item
            .split_once(':')
            .ok_or_else(|| bad(format!("{item}: expected NAME:PROTOCOL")))?;
        let protocol = SecurityProtocol::parse(protocol.trim()).ok_or_else(|| {
            bad(format!(
                "{protocol}: the protocols are PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL"
            ))
        })?;
        if map.insert(name.trim().to_string(), protocol).is_some() {
            return Err(bad(format!("{name} is mapped twice")));
        }
    }
    Ok(map)
}

/// `NAME://host:port,...`: names unique (an empty host is every interface).
fn parse_endpoints(
    key: &str,
    text: &str,
) -> Result<Vec<(String, AdvertisedListener)>, ConfigError> {
    let mut endpoints: Vec<(String, AdvertisedListener)> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, endpoint) = parse_endpoint(key, item)?;
        if endpoints.iter().any(|(n, _)| *n == name) {
            return Err(ConfigError::invalid(
                key,
                text,
                format!("listener name {name} appears twice"),
            ));
        }
        endpoints.push((name, endpoint));
    }
    Ok(endpoints)
}

/// `NAME://host:port`
pub fn parse_endpoint(key: &str, text: &str) -> Result<(String, AdvertisedListener), ConfigError> {
    let Some((name, rest)) = text.split_once("://") else {
        return Err(ConfigError::invalid(key, text, "expected NAME://host:port"));
    };
    let valid_name =
        !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(ConfigError::invalid(
            key,
            text,
            format!("{name}: a listener name is letters, digits and _"),
        ));
    }
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(ConfigError::invalid(key, text, "missing :port"));
    };
    let port = port
        .parse::<u16>()
        .map_err(|_| ConfigError::invalid(key, text, "port is not a number 0-65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((
        name.to_string(),
        AdvertisedListener {
            host: if host.is_empty() { "0.0.0.0" } else { host }.to_string(),
            port,
        },
    ))
}

fn resolve(key: &str, endpoint: &AdvertisedListener) -> Result<SocketAddr, ConfigError> {
    (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            ConfigError::invalid(
                key,
                &format!("{}:{}", endpoint.host, endpoint.port),
                "host does not resolve",
            )
        })
}

fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".to_string();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys<'a>(listeners: &'a str, advertised: Option<&'a str>) -> ListenerKeys<'a> {
        ListenerKeys {
            listeners,
            protocol_map: DEFAULT_PROTOCOL_MAP,
            advertised,
            controller_name: "CONTROLLER",
        }
    }

    #[test]
    fn names_map_to_protocols_and_the_controller_listener_is_apart() {
        let parsed = parse(&keys(
            "PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:9101",
            None,
        ))
        .unwrap();
        assert_eq!(parsed.controller, Some("127.0.0.1:9101".parse().unwrap()));
        let names: Vec<_> = parsed
            .client
            .iter()
            .map(|l| (l.name.as_str(), l.protocol, l.address.port()))
            .collect();
        assert_eq!(
            names,
            vec![
                ("PLAINTEXT", SecurityProtocol::Plaintext, 9092),
                ("SASL_PLAINTEXT", SecurityProtocol::SaslPlaintext, 9093),
            ]
        );
    }

    #[test]
    fn custom_names_need_the_protocol_map() {
        let err = parse(&keys("INTERNAL://127.0.0.1:9092", None)).unwrap_err();
        assert!(err
            .to_string()
            .contains("no security protocol for listener INTERNAL"));
        let parsed = parse(&ListenerKeys {
            protocol_map: "INTERNAL:PLAINTEXT,EXTERNAL:SASL_SSL",
            ..keys("INTERNAL://127.0.0.1:9092,EXTERNAL://127.0.0.1:9093", None)
        })
        .unwrap();
        assert_eq!(parsed.client[1].protocol, SecurityProtocol::SaslSsl);
        let err = parse(&ListenerKeys {
            protocol_map: "INTERNAL:TLS",
            ..keys("INTERNAL://127.0.0.1:9092", None)
        })
        .unwrap_err();
        assert!(err.to_string().contains("SASL_SSL"), "{err}");
    }

    #[test]
    fn advertised_listeners_replace_the_bound_ones_by_name() {
        let parsed = parse(&keys(
            "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093",
            Some("PLAINTEXT://broker.example:19092"),
        ))
        .unwrap();
        assert_eq!(
            parsed.client[0].advertised,
            Some(AdvertisedListener {
                host: "broker.example".into(),
                port: 19092
            })
        );
        assert_eq!(parsed.client[1].advertised, None);
        let err = parse(&keys(
            "PLAINTEXT://127.0.0.1:9092",
            Some("SSL://broker.example:9093"),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("not a client listener"), "{err}");
    }

    #[test]
    fn duplicate_names_and_bad_endpoints_are_refused() {
        for bad in [
            "PLAINTEXT://127.0.0.1:9092,PLAINTEXT://127.0.0.1:9093",
            "127.0.0.1:9092",
            "PLAINTEXT://127.0.0.1",
            "PLAIN TEXT://127.0.0.1:9092",
        ] {
            assert!(parse(&keys(bad, None)).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocol_ids_are_kafkas() {
        for p in [
            SecurityProtocol::Plaintext,
            SecurityProtocol::Ssl,
            SecurityProtocol::SaslPlaintext,
            SecurityProtocol::SaslSsl,
        ] {
            assert_eq!(SecurityProtocol::from_id(p.id()), Some(p));
            assert_eq!(SecurityProtocol::parse(p.name()), Some(p));
        }
        assert_eq!(SecurityProtocol::SaslSsl.id(), 3);
    }
}
