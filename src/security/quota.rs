//! Client quotas as pure logic (KIP-13 byte rates, KIP-124 request percentages, KIP-55 user
//! and client-id entities, KIP-219 throttling, KIP-546 DescribeClientQuotas and
//! AlterClientQuotas): the quotas the cluster
//! metadata holds, which one applies to a request (Kafka's precedence), the rate a client is
//! measured at (Kafka's sampled windows), and how long a client over its quota is throttled.
//! The broker records and throttles (`protocol::quotas`); the controller decides changes here.

use std::collections::{BTreeMap, HashMap};

use crate::error_code::ErrorCode;
use crate::metadata::records::MetadataRecord;

/// The quotas Weir enforces, each per broker: Kafka's `producer_byte_rate` and
/// `consumer_byte_rate` in bytes per second, and `request_percentage` in percent of one
/// core's time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum QuotaKind {
    /// `producer_byte_rate`: Produce request bytes.
    Produce,
    /// `consumer_byte_rate`: Fetch response bytes (a follower's fetches are not counted).
    Fetch,
    /// `request_percentage` (KIP-124): the time the client's requests take on the broker's
    /// shards, as a percentage of one second per second (100 is one core's whole time; Kafka's
    /// is of one request handler thread). Cluster actions of the cluster's own nodes are
    /// exempt, as Kafka's.
    Request,
}

impl QuotaKind {
    pub const ALL: [QuotaKind; 3] = [QuotaKind::Produce, QuotaKind::Fetch, QuotaKind::Request];

    /// Kafka's quota config key.
    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::Request => "request_percentage",
        }
    }

    pub fn from_key(key: &str) -> Option<QuotaKind> {
        QuotaKind::ALL.into_iter().find(|kind| kind.key() == key)
    }

    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<QuotaKind> {
        QuotaKind::ALL.get(usize::from(code)).copied()
    }
}

/// Kafka quota keys Weir knows and does not enforce: refused by AlterClientQuotas rather than
/// stored and silently ignored.
const UNENFORCED_KEYS: [&str; 2] = ["controller_mutation_rate", "connection_creation_rate"];

/// Kafka's entity types of a quota.
pub const USER: &str = "user";
pub const CLIENT_ID: &str = "client-id";
pub const IP: &str = "ip";

/// One part of a quota entity: a name, or the default for every name (Kafka's null name,
/// `<default>` in its tools).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EntityName {
    Default,
    Named(String),
}

impl EntityName {
    /// From the wire, where the default is a null name.
    pub fn from_wire(name: Option<&str>) -> EntityName {
        match name {
            Some(name) => EntityName::Named(name.to_string()),
            None => EntityName::Default,
        }
    }

    pub fn to_wire(&self) -> Option<&str> {
        match self {
            EntityName::Default => None,
            EntityName::Named(name) => Some(name),
        }
    }
}

/// Whom a quota applies to: a user, a client id, or a client id of a user (at least one part).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QuotaEntity {
    pub user: Option<EntityName>,
    pub client_id: Option<EntityName>,
}

/// A quota's value: bytes per second, or a percentage (`request_percentage`). Kafka keeps quota
/// values as doubles; equality is the bits', so metadata states compare exactly.
#[derive(Debug, Clone, Copy)]
pub struct QuotaValue(pub f64);

impl PartialEq for QuotaValue {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for QuotaValue {}

/// The cluster's quotas: each entity's values by kind (no entity with an empty map).
pub type ClientQuotas = BTreeMap<QuotaEntity, BTreeMap<QuotaKind, QuotaValue>>;

/// Whose usage a quota is measured on (Kafka's quota metric tags): the clients a matched
/// entity covers share one rate. A quota of user `alice` is shared by all her clients; a
/// default client-id quota gives each client id its own.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SensorKey {
    pub kind: QuotaKind,
    pub user: Option<String>,
    pub client_id: Option<String>,
}

impl SensorKey {
    /// The shard that measures this rate: every shard's clients of one quota entity are
    /// recorded in one place, so the quota holds per broker, as Kafka's does.
    pub fn owner(&self, shard_count: usize) -> usize {
        use std::hash::{Hash, Hasher};
        // SipHash with fixed keys: every shard computes the same owner.
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        self.hash(&mut hasher);
        (hasher.finish() % shard_count.max(1) as u64) as usize
    }
}

/// The quota of `kind` that applies to a client, in Kafka's order of precedence (most
/// specific first): user and client id, user and default client id, user, default user and
/// client id, default user and default client id, default user, client id, default client id.
/// `user` is the principal's name (`alice` for `User:alice`).
pub fn quota_for(
    quotas: &ClientQuotas,
    kind: QuotaKind,
    user: &str,
    client_id: &str,
) -> Option<(SensorKey, f64)> {
    // One pass over the (few) quota entities, without building candidate keys: this runs for
    // every produce and fetch while the cluster has quotas.
    let (rank, value) = quotas
        .iter()
        .filter_map(|(entity, values)| {
            let rank = precedence(entity, user, client_id)?;
            Some((rank, values.get(&kind)?.0))
        })
        .min_by_key(|(rank, _)| *rank)?;
    // The entity's rate is per user unless it names no user, per client id unless it names
    // only a user.
    let by_user = rank <= 5;
    let by_client = rank != 2 && rank != 5;
    let key = SensorKey {
        kind,
        user: by_user.then(|| user.to_string()),
        client_id: by_client.then(|| client_id.to_string()),
    };
    Some((key, value))
}

/// Where `entity` stands in Kafka's order for this client (0 most specific), or `None` when it
/// names another user or client id.
fn precedence(entity: &QuotaEntity, user: &str, client_id: &str) -> Option<u8> {
    // 0: named and matching, 1: the default, 2: not part of the entity.
    let part = |part: &Option<EntityName>, name: &str| match part {
        Some(EntityName::Named(n)) if n == name => Some(0),
        Some(EntityName::Named(_)) => None,
        Some(EntityName::Default) => Some(1),
        None => Some(2),
    };
    let ranks = (
        part(&entity.user, user)?,
        part(&entity.client_id, client_id)?,
    );
    Some(match ranks {
        (0, 0) => 0,
        (0, 1) => 1,
        (0, 2) => 2,
        (1, 0) => 3,
        (1, 1) => 4,
        (1, 2) => 5,
        (2, 0) => 6,
        (2, 1) => 7,
        // An entity has a user or a client id.
        _ => return None,
    })
}

/// `quota.window.num` samples of `quota.window.size.seconds` each: the window a rate is
/// measured over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    pub samples: u32,
    pub sample_ms: u64,
}

impl Default for QuotaWindow {
    /// Kafka's defaults: 11 samples of 1 second.
    fn default() -> Self {
        QuotaWindow {
            samples: 11,
            sample_ms: 1000,
        }
    }
}

impl QuotaWindow {
    /// The most a fetch may return at once (Kafka's `getMaxValueInQuotaWindow`): the quota over
    /// all but the current sample.
    pub fn max_bytes_in_window(&self, quota: f64) -> f64 {
        quota * f64::from(self.samples.saturating_sub(1)) * self.sample_ms as f64 / 1000.0
    }
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    start_ms: u64,
    value: f64,
}

/// A rate measured as Kafka's `Rate` over a `SampledStat`: a ring of samples, each covering
/// `sample_ms`; samples older than the whole window are reset; the rate is the samples' sum
/// over the time they cover, at least `samples - 1` full samples (so a new client's first
/// burst is measured against the whole window, not its first milliseconds).
#[derive(Debug, Clone)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
}

impl Rate {
    pub fn new(now_ms: u64) -> Rate {
        Rate {
            samples: vec![Sample {
                start_ms: now_ms,
                value: 0.0,
            }],
            current: 0,
        }
    }

    pub fn record(&mut self, value: f64, now_ms: u64, window: QuotaWindow) {
        if now_ms.saturating_sub(self.samples[self.current].start_ms) >= window.sample_ms {
            self.current = (self.current + 1) % window.samples.max(1) as usize;
            let fresh = Sample {
                start_ms: now_ms,
                value: 0.0,
            };
            match self.samples.get_mut(self.current) {
                Some(sample) => *sample = fresh,
                None => self.samples.push(fresh),
            }
        }
        self.samples[self.current].value += value;
    }

    /// Bytes per second over the window.
    pub fn measure(&mut self, now_ms: u64, window: QuotaWindow) -> f64 {
        let elapsed_ms = self.window_ms(now_ms, window);
        let total: f64 = self.samples.iter().map(|s| s.value).sum();
        total / (elapsed_ms as f64 / 1000.0)
    }

    /// The time the rate is measured over (Kafka's `Rate.windowSize`).
    pub fn window_ms(&mut self, now_ms: u64, window: QuotaWindow) -> u64 {
        let expire_ms = u64::from(window.samples) * window.sample_ms;
        for sample in &mut self.samples {
            if now_ms.saturating_sub(sample.start_ms) >= expire_ms {
                *sample = Sample {
                    start_ms: now_ms,
                    value: 0.0,
                };
            }
        }
        let oldest = self
            .samples
            .iter()
            .map(|s| s.start_ms)
            .min()
            .unwrap_or(now_ms);
        let elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / window.sample_ms.max(1);
        let minimum_full = u64::from(window.samples.saturating_sub(1));
        let padded = elapsed + minimum_full.saturating_sub(full) * window.sample_ms;
        padded.max(1)
    }

    /// When the last sample began: a rate unused for a whole window measures nothing.
    fn last_start_ms(&self) -> u64 {
        self.samples[self.current].start_ms
    }
}

/// How long a client measured at `observed` against `quota` is throttled (KIP-219, Kafka's
/// `QuotaUtils.throttleTime`): the time the window must grow for the rate to fall back to the
/// quota. Byte-rate throttles are not bounded, as Kafka's are not.
pub fn throttle_ms(observed: f64, quota: f64, window_ms: u64) -> u64 {
    if quota <= 0.0 || observed <= quota {
        return 0;
    }
    ((observed - quota) / quota * window_ms as f64).round() as u64
}

/// One broker shard's rates of the clients with a quota. Rates unused for a whole window are
/// dropped (they would measure zero).
#[derive(Debug, Default)]
pub struct QuotaTracker {
    window: QuotaWindow,
    rates: HashMap<SensorKey, Rate>,
    last_sweep_ms: u64,
}

impl QuotaTracker {
    pub fn new(window: QuotaWindow) -> QuotaTracker {
        QuotaTracker {
            window,
            rates: HashMap::new(),
            last_sweep_ms: 0,
        }
    }

    pub fn window(&self) -> QuotaWindow {
        self.window
    }

    /// Records `amount` (bytes, or a request's time in percent of a second) of `key`'s client
    /// and answers the throttle its quota calls for (Kafka's
    /// `maybeRecordAndGetThrottleTimeMs`: the usage counts even when throttled). A request
    /// quota's throttle is at most one sample, as Kafka bounds it by `quota.window.size.seconds`
    /// (one slow request must not mute a client for long); byte-rate throttles are not bounded.
    pub fn record(&mut self, key: &SensorKey, quota: f64, amount: f64, now_ms: u64) -> u64 {
        self.sweep(now_ms);
        let window = self.window;
        let rate = self
            .rates
            .entry(key.clone())
            .or_insert_with(|| Rate::new(now_ms));
        rate.record(amount, now_ms, window);
        let observed = rate.measure(now_ms, window);
        let throttle = throttle_ms(observed, quota, rate.window_ms(now_ms, window));
        match key.kind {
            QuotaKind::Request => throttle.min(window.sample_ms),
            QuotaKind::Produce | QuotaKind::Fetch => throttle,
        }
    }

    /// Takes back bytes recorded for a response that is not sent (Kafka's
    /// `unrecordQuotaSensor`: a throttled fetch answers with no records).
    pub fn unrecord(&mut self, key: &SensorKey, bytes: f64, now_ms: u64) {
        if let Some(rate) = self.rates.get_mut(key) {
            rate.record(-bytes, now_ms, self.window);
        }
    }

    pub fn tracked(&self) -> usize {
        self.rates.len()
    }

    fn sweep(&mut self, now_ms: u64) {
        let whole_window = u64::from(self.window.samples) * self.window.sample_ms;
        if now_ms.saturating_sub(self.last_sweep_ms) < whole_window {
            return;
        }
        self.last_sweep_ms = now_ms;
        self.rates
            .retain(|_, rate| now_ms.saturating_sub(rate.last_start_ms()) < whole_window);
    }
}

/// Why an AlterClientQuotas entry, or a DescribeClientQuotas filter, is refused: Kafka's
/// INVALID_REQUEST with its reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuotaError {
    #[error("The client quota entity is empty.")]
    EmptyEntity,
    #[error("Duplicate {0} in the client quota entity.")]
    DuplicateEntityType(String),
    #[error("Unhandled client quota entity type: {0}.")]
    UnknownEntityType(String),
    #[error("IP quotas (connection_creation_rate) are not supported by Weir.")]
    IpEntity,
    #[error("Invalid quota key {0}.")]
    UnknownKey(String),
    #[error("Quota {0} is not enforced by Weir, so it is not accepted.")]
    UnenforcedKey(String),
    #[error("Quota {key} must be a positive whole number of bytes per second, not {value}.")]
    InvalidValue { key: String, value: String },
    #[error("Quota request_percentage must be a positive percentage, not {0}.")]
    InvalidPercentage(String),
    #[error("Duplicate quota key {0} in one entry.")]
    DuplicateKey(String),
    #[error("Unknown match type {0}.")]
    MatchType(i8),
    #[error("An exact match of {0} needs a name.")]
    ExactWithoutName(String),
}

impl QuotaError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }
}

/// An entity from its wire parts ((entity type, name); a null name is the default).
pub fn entity_from_wire<'a>(
    parts: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<QuotaEntity, QuotaError> {
    let mut entity = QuotaEntity::default();
    let mut any = false;
    for (entity_type, name) in parts {
        any = true;
        let slot = match entity_type {
            USER => &mut entity.user,
            CLIENT_ID => &mut entity.client_id,
            IP => return Err(QuotaError::IpEntity),
            other => return Err(QuotaError::UnknownEntityType(other.to_string())),
        };
        if slot.is_some() {
            return Err(QuotaError::DuplicateEntityType(entity_type.to_string()));
        }
        *slot = Some(EntityName::from_wire(name));
    }
    if !any {
        return Err(QuotaError::EmptyEntity);
    }
    Ok(entity)
}

/// The entity's wire parts, user first (Kafka's order).
pub fn entity_to_wire(entity: &QuotaEntity) -> Vec<(&'static str, Option<&str>)> {
    let user = entity.user.as_ref().map(|n| (USER, n.to_wire()));
    let client = entity.client_id.as_ref().map(|n| (CLIENT_ID, n.to_wire()));
    user.into_iter().chain(client).collect()
}

/// One AlterClientQuotas entry: an entity and its operations (key, value; `None` removes).
#[derive(Debug, Clone, PartialEq)]
pub struct QuotaAlteration {
    pub entity: Result<QuotaEntity, QuotaError>,
    pub ops: Vec<(String, Option<f64>)>,
}

/// AlterClientQuotas decided on the cluster's quotas: the records of every valid entry, and
/// per entry its result. Validation follows Kafka's controller: known keys, positive whole
/// byte rates, each key once per entry.
pub fn decide_alterations(
    alterations: &[QuotaAlteration],
) -> (Vec<MetadataRecord>, Vec<Result<(), QuotaError>>) {
    let mut records = Vec::new();
    let results =
        alterations
            .iter()
            .map(|alteration| {
                let entity = alteration.entity.clone()?;
                let mut changes: BTreeMap<QuotaKind, Option<QuotaValue>> = BTreeMap::new();
                for (key, value) in &alteration.ops {
                    let kind = validate_key(key)?;
                    let value = value.map(|v| validate_value(kind, v)).transpose()?;
                    if changes.insert(kind, value).is_some() {
                        return Err(QuotaError::DuplicateKey(key.clone()));
                    }
                }
                records.extend(changes.into_iter().map(|(kind, value)| {
                    MetadataRecord::ClientQuota {
                        entity: entity.clone(),
                        kind,
                        value,
                    }
                }));
                Ok(())
            })
            .collect();
    (records, results)
}

fn validate_key(key: &str) -> Result<QuotaKind, QuotaError> {
    QuotaKind::from_key(key).ok_or_else(|| match UNENFORCED_KEYS.contains(&key) {
        true => QuotaError::UnenforcedKey(key.to_string()),
        false => QuotaError::UnknownKey(key.to_string()),
    })
}

/// Byte rates are Kafka LONG configs: whole and positive; `request_percentage` is a DOUBLE,
/// here positive (a quota of no time at all would mute the client for good).
fn validate_value(kind: QuotaKind, value: f64) -> Result<QuotaValue, QuotaError> {
    match kind {
        QuotaKind::Produce | QuotaKind::Fetch
            if value.is_finite() && value >= 1.0 && value.fract() == 0.0 =>
        {
            Ok(QuotaValue(value))
        }
        QuotaKind::Request if value.is_finite() && value > 0.0 => Ok(QuotaValue(value)),
        QuotaKind::Request => Err(QuotaError::InvalidPercentage(value.to_string())),
        QuotaKind::Produce | QuotaKind::Fetch => Err(QuotaError::InvalidValue {
            key: kind.key().to_string(),
            value: value.to_string(),
        }),
    }
}

/// A ClientQuotaRecord applied to the cluster's quotas.
pub fn apply(
    quotas: &mut ClientQuotas,
    entity: &QuotaEntity,
    kind: QuotaKind,
    value: Option<QuotaValue>,
) {
    match value {
        Some(value) => {
            quotas
                .entry(entity.clone())
                .or_default()
                .insert(kind, value);
        }
        None => {
            if let Some(values) = quotas.get_mut(entity) {
                values.remove(&kind);
                if values.is_empty() {
                    quotas.remove(entity);
                }
            }
        }
    }
}

/// How a DescribeClientQuotas filter component matches one entity type (KIP-546).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComponentMatch {
    /// Match type 0: this name.
    Exact(String),
    /// Match type 1: the default.
    Default,
    /// Match type 2: any name or the default, as long as the type is there.
    Specified,
}

/// A DescribeClientQuotas filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaFilter {
    /// By entity type (`user`, `client-id`, `ip`).
    pub components: BTreeMap<String, ComponentMatch>,
    /// Entities with a type the filter does not name are left out.
    pub strict: bool,
}

impl QuotaFilter {
    /// From the wire's components (entity type, match type, match).
    pub fn from_wire<'a>(
        components: impl IntoIterator<Item = (&'a str, i8, Option<&'a str>)>,
        strict: bool,
    ) -> Result<QuotaFilter, QuotaError> {
        let mut by_type = BTreeMap::new();
        for (entity_type, match_type, name) in components {
            if ![USER, CLIENT_ID, IP].contains(&entity_type) {
                return Err(QuotaError::UnknownEntityType(entity_type.to_string()));
            }
            let matching = match (match_type, name) {
                (0, Some(name)) => ComponentMatch::Exact(name.to_string()),
                (0, None) => return Err(QuotaError::ExactWithoutName(entity_type.to_string())),
                (1, _) => ComponentMatch::Default,
                (2, _) => ComponentMatch::Specified,
                (other, _) => return Err(QuotaError::MatchType(other)),
            };
            if by_type.insert(entity_type.to_string(), matching).is_some() {
                return Err(QuotaError::DuplicateEntityType(entity_type.to_string()));
            }
        }
        Ok(QuotaFilter {
            components: by_type,
            strict,
        })
    }

    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        let parts = [(USER, &entity.user), (CLIENT_ID, &entity.client_id)];
        let components_match = self.components.iter().all(|(entity_type, matching)| {
            let part = parts
                .iter()
                .find(|(t, _)| t == entity_type)
                .and_then(|(_, part)| part.as_ref());
            match (matching, part) {
                (_, None) => false,
                (ComponentMatch::Exact(name), Some(EntityName::Named(n))) => n == name,
                (ComponentMatch::Exact(_), Some(EntityName::Default)) => false,
                (ComponentMatch::Default, Some(part)) => *part == EntityName::Default,
                (ComponentMatch::Specified, Some(_)) => true,
            }
        });
        let nothing_else = !self.strict
            || parts
                .iter()
                .all(|(t, part)| part.is_none() || self.components.contains_key(*t));
        components_match && nothing_else
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> Option<EntityName> {
        Some(EntityName::Named(name.into()))
    }

    fn quotas(entries: &[(QuotaEntity, f64)]) -> ClientQuotas {
        let mut quotas = ClientQuotas::new();
        for (entity, value) in entries {
            apply(
                &mut quotas,
                entity,
                QuotaKind::Produce,
                Some(QuotaValue(*value)),
            );
        }
        quotas
    }

    fn entity(user: Option<EntityName>, client_id: Option<EntityName>) -> QuotaEntity {
        QuotaEntity { user, client_id }
    }

    #[test]
    fn the_most_specific_quota_wins_in_kafkas_order() {
        let default = || Some(EntityName::Default);
        let all = [
            (entity(named("alice"), named("app")), 1.0),
            (entity(named("alice"), default()), 2.0),
            (entity(named("alice"), None), 3.0),
            (entity(default(), named("app")), 4.0),
            (entity(default(), default()), 5.0),
            (entity(default(), None), 6.0),
            (entity(None, named("app")), 7.0),
            (entity(None, default()), 8.0),
        ];
        // Removing the most specific each time reveals the next in Kafka's order.
        for first in 0..all.len() {
            let quotas = quotas(&all[first..]);
            let (_, value) = quota_for(&quotas, QuotaKind::Produce, "alice", "app").unwrap();
            assert_eq!(value, all[first].1);
        }
        assert_eq!(
            quota_for(&ClientQuotas::new(), QuotaKind::Produce, "alice", "app"),
            None
        );
        // Another user's or client id's quota never applies.
        let others = quotas(&[
            (entity(named("bob"), named("app")), 1.0),
            (entity(named("alice"), named("other")), 2.0),
            (entity(None, named("other")), 3.0),
        ]);
        assert_eq!(quota_for(&others, QuotaKind::Produce, "alice", "app"), None);
        // A consumer quota is its own key.
        let only_produce = quotas(&all);
        assert_eq!(
            quota_for(&only_produce, QuotaKind::Fetch, "alice", "app"),
            None
        );
    }

    #[test]
    fn clients_a_quota_covers_share_its_rate() {
        let user_only = quotas(&[(entity(named("alice"), None), 10.0)]);
        let (a, _) = quota_for(&user_only, QuotaKind::Produce, "alice", "one").unwrap();
        let (b, _) = quota_for(&user_only, QuotaKind::Produce, "alice", "two").unwrap();
        assert_eq!(a, b, "a user's quota is shared by all her client ids");
        let default_client = quotas(&[(entity(None, Some(EntityName::Default)), 10.0)]);
        let (a, _) = quota_for(&default_client, QuotaKind::Produce, "alice", "one").unwrap();
        let (b, _) = quota_for(&default_client, QuotaKind::Produce, "alice", "two").unwrap();
        assert_ne!(a, b, "the default client-id quota is each client id's own");
        assert_eq!(a.user, None);
    }

    #[test]
    fn a_new_clients_rate_is_measured_over_the_whole_window() {
        let window = QuotaWindow::default();
        let mut rate = Rate::new(0);
        rate.record(10_000.0, 0, window);
        // Kafka pads a young window to samples - 1 full samples: 10 000 bytes over 10 s.
        assert_eq!(rate.window_ms(0, window), 10_000);
        assert!((rate.measure(0, window) - 1000.0).abs() < 1e-9);
        // 2.5 s later, still padded to ten samples plus the half-used one.
        assert_eq!(rate.window_ms(2500, window), 10_500);
    }

    #[test]
    fn old_samples_leave_the_window() {
        let window = QuotaWindow {
            samples: 3,
            sample_ms: 1000,
        };
        let mut rate = Rate::new(0);
        rate.record(3000.0, 0, window);
        rate.record(3000.0, 1000, window);
        rate.record(3000.0, 2000, window);
        // Three full samples: 9000 bytes over 2 s (padded) or more.
        assert!(rate.measure(2000, window) > 3000.0);
        // The first sample is reused for the fourth second; each other one expires once the
        // whole window (3 s) has passed its start, and the oldest left bounds the window.
        rate.record(0.0, 3000, window);
        assert_eq!(rate.measure(3500, window), 6000.0 / 2.5);
        assert_eq!(rate.measure(4500, window), 3000.0 / 2.5);
        assert_eq!(rate.measure(10_000, window), 0.0);
    }

    #[test]
    fn the_throttle_is_the_time_the_window_needs_to_reach_the_quota() {
        // Kafka's own example (QuotaUtilsTest): 100 observed against 50 over 2 s.
        assert_eq!(throttle_ms(100.0, 50.0, 2000), 2000);
        assert_eq!(throttle_ms(50.0, 50.0, 2000), 0);
        assert_eq!(throttle_ms(10.0, 50.0, 2000), 0);
        let mut tracker = QuotaTracker::new(QuotaWindow::default());
        let key = SensorKey {
            kind: QuotaKind::Produce,
            user: None,
            client_id: Some("app".into()),
        };
        let throttle = tracker.record(&key, 1000.0, 20_000.0, 0);
        assert_eq!(throttle, 10_000, "20 000 bytes against 1000/s over 10 s");
        tracker.unrecord(&key, 20_000.0, 1);
        assert_eq!(tracker.record(&key, 1000.0, 0.0, 2), 0);
        // A request quota's throttle is bounded by one sample (Kafka's
        // boundedThrottleTime): 50% of a second against 1% would be 490 s.
        let requests = SensorKey {
            kind: QuotaKind::Request,
            ..key
        };
        assert_eq!(tracker.record(&requests, 1.0, 50.0, 3), 1000);
    }

    #[test]
    fn request_percentages_are_positive_fractions_allowed() {
        let alice = entity_from_wire([(USER, Some("alice"))]);
        let set = |value: f64| QuotaAlteration {
            entity: alice.clone(),
            ops: vec![("request_percentage".into(), Some(value))],
        };
        let (records, results) = decide_alterations(&[set(12.5), set(0.0), set(f64::NAN)]);
        assert_eq!(results[0], Ok(()));
        assert_eq!(results[1], Err(QuotaError::InvalidPercentage("0".into())));
        assert!(matches!(results[2], Err(QuotaError::InvalidPercentage(_))));
        assert_eq!(
            records,
            vec![MetadataRecord::ClientQuota {
                entity: alice.unwrap(),
                kind: QuotaKind::Request,
                value: Some(QuotaValue(12.5)),
            }]
        );
        assert_eq!(QuotaKind::from_code(2), Some(QuotaKind::Request));
        assert_eq!(
            QuotaKind::from_key("request_percentage"),
            Some(QuotaKind::Request)
        );
    }

    #[test]
    fn idle_rates_are_dropped() {
        let mut tracker = QuotaTracker::new(QuotaWindow {
            samples: 2,
            sample_ms: 100,
        });
        let key = |id: &str| SensorKey {
            kind: QuotaKind::Fetch,
            user: None,
            client_id: Some(id.into()),
        };
        tracker.record(&key("a"), 10.0, 1.0, 1000);
        tracker.record(&key("b"), 10.0, 1.0, 1150);
        tracker.record(&key("b"), 10.0, 1.0, 1250);
        assert_eq!(tracker.tracked(), 1, "a was idle for a whole window");
    }

    #[test]
    fn alterations_are_validated_as_kafka_validates_them() {
        let alice = entity_from_wire([(USER, Some("alice"))]);
        let (records, results) = decide_alterations(&[
            QuotaAlteration {
                entity: alice.clone(),
                ops: vec![
                    ("producer_byte_rate".into(), Some(1024.0)),
                    ("consumer_byte_rate".into(), None),
                ],
            },
            QuotaAlteration {
                entity: alice.clone(),
                ops: vec![("producer_byte_rate".into(), Some(1.5))],
            },
            QuotaAlteration {
                entity: alice.clone(),
                ops: vec![("controller_mutation_rate".into(), Some(50.0))],
            },
            QuotaAlteration {
                entity: alice.clone(),
                ops: vec![("bogus".into(), Some(1.0))],
            },
            QuotaAlteration {
                entity: entity_from_wire([(IP, None)]),
                ops: vec![],
            },
            QuotaAlteration {
                entity: entity_from_wire([(USER, None), (USER, Some("x"))]),
                ops: vec![],
            },
            QuotaAlteration {
                entity: entity_from_wire([]),
                ops: vec![],
            },
        ]);
        assert_eq!(results[0], Ok(()));
        assert!(matches!(results[1], Err(QuotaError::InvalidValue { .. })));
        assert!(matches!(results[2], Err(QuotaError::UnenforcedKey(_))));
        assert!(matches!(results[3], Err(QuotaError::UnknownKey(_))));
        assert_eq!(results[4], Err(QuotaError::IpEntity));
        assert!(matches!(
            results[5],
            Err(QuotaError::DuplicateEntityType(_))
        ));
        assert_eq!(results[6], Err(QuotaError::EmptyEntity));
        let alice = alice.unwrap();
        assert_eq!(
            records,
            vec![
                MetadataRecord::ClientQuota {
                    entity: alice.clone(),
                    kind: QuotaKind::Produce,
                    value: Some(QuotaValue(1024.0)),
                },
                MetadataRecord::ClientQuota {
                    entity: alice,
                    kind: QuotaKind::Fetch,
                    value: None,
                },
            ]
        );
    }

    #[test]
    fn applying_sets_and_removes_values() {
        let mut quotas = ClientQuotas::new();
        let e = entity(named("alice"), None);
        apply(&mut quotas, &e, QuotaKind::Produce, Some(QuotaValue(5.0)));
        apply(&mut quotas, &e, QuotaKind::Fetch, Some(QuotaValue(6.0)));
        apply(&mut quotas, &e, QuotaKind::Produce, None);
        assert_eq!(quotas[&e].len(), 1);
        apply(&mut quotas, &e, QuotaKind::Fetch, None);
        assert!(quotas.is_empty(), "no entity is left with no quota");
    }

    #[test]
    fn filters_match_as_kip_546_says() {
        let alice_app = entity(named("alice"), named("app"));
        let alice = entity(named("alice"), None);
        let default_user = entity(Some(EntityName::Default), None);
        let filter = |components: &[(&str, i8, Option<&str>)], strict| {
            QuotaFilter::from_wire(components.iter().copied(), strict).unwrap()
        };
        let exact_alice = filter(&[(USER, 0, Some("alice"))], false);
        assert!(exact_alice.matches(&alice_app) && exact_alice.matches(&alice));
        assert!(!exact_alice.matches(&default_user));
        let strict_alice = filter(&[(USER, 0, Some("alice"))], true);
        assert!(strict_alice.matches(&alice) && !strict_alice.matches(&alice_app));
        let defaults = filter(&[(USER, 1, None)], false);
        assert!(defaults.matches(&default_user) && !defaults.matches(&alice));
        let any_client = filter(&[(CLIENT_ID, 2, None)], false);
        assert!(any_client.matches(&alice_app) && !any_client.matches(&alice));
        let everything = filter(&[], false);
        assert!(everything.matches(&alice) && everything.matches(&default_user));
        assert!(!filter(&[], true).matches(&alice));
        assert_eq!(
            QuotaFilter::from_wire([(USER, 0, None)], false),
            Err(QuotaError::ExactWithoutName(USER.into()))
        );
        assert_eq!(
            QuotaFilter::from_wire([(USER, 7, None)], false),
            Err(QuotaError::MatchType(7))
        );
    }

    #[test]
    fn fetches_are_capped_at_the_quota_over_the_full_samples() {
        let window = QuotaWindow::default();
        assert_eq!(window.max_bytes_in_window(1000.0), 10_000.0);
    }
}
