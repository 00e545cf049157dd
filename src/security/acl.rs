//! Access control lists with Kafka's StandardAuthorizer semantics (KIP-801's authorizer for
//! KRaft clusters), as pure logic: the ACLs live in the cluster metadata, the request handlers
//! ask `Authorizer::authorize` before they act.
//!
//! The rules, as Kafka's: a super user may do anything; otherwise a DENY ACL matching the
//! principal (or `User:*`), the host (or `*`) and the operation (or ALL) refuses, else an
//! ALLOW ACL of the operation, of ALL, or of an operation implying it (READ, WRITE, DELETE and
//! ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS) permits. A resource no ACL
//! names at all is allowed only with `allow.everyone.if.no.acl.found=true`. An ACL names a
//! resource when it is LITERAL with the resource's name or `*`, or PREFIXED with a prefix of it.

use std::collections::BTreeSet;

use crate::error_code::ErrorCode;
use crate::metadata::records::MetadataRecord;

/// The principal of every connection that did not authenticate (PLAINTEXT, SSL without a
/// client certificate), as Kafka's `KafkaPrincipal.ANONYMOUS`.
pub const ANONYMOUS: &str = "User:ANONYMOUS";
/// The principal an ACL names to mean everyone.
const WILDCARD_PRINCIPAL: &str = "User:*";
/// A LITERAL resource name (and an ACL host) matching every name.
pub const WILDCARD: &str = "*";
/// The name of the one CLUSTER resource (Kafka's `kafka-cluster`).
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// Kafka's `ResourceType` codes; ANY only in filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    Topic = 2,
    Group = 3,
    Cluster = 4,
    TransactionalId = 5,
    DelegationToken = 6,
    User = 7,
}

/// Kafka's `PatternType` for a stored ACL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PatternType {
    Literal = 3,
    Prefixed = 4,
}

/// Kafka's `AclOperation` codes (ANY and UNKNOWN only in filters and requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AclOperation {
    All = 2,
    Read = 3,
    Write = 4,
    Create = 5,
    Delete = 6,
    Alter = 7,
    Describe = 8,
    ClusterAction = 9,
    DescribeConfigs = 10,
    AlterConfigs = 11,
    IdempotentWrite = 12,
    CreateTokens = 13,
    DescribeTokens = 14,
}

/// Kafka's `AclPermissionType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Permission {
    Deny = 2,
    Allow = 3,
}

impl ResourceType {
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            2 => Self::Topic,
            3 => Self::Group,
            4 => Self::Cluster,
            5 => Self::TransactionalId,
            6 => Self::DelegationToken,
            7 => Self::User,
            _ => return None,
        })
    }

    /// The error code Kafka answers when an operation on a resource of this type is refused.
    pub fn denial(self) -> ErrorCode {
        match self {
            Self::Topic => ErrorCode::TopicAuthorizationFailed,
            Self::Group => ErrorCode::GroupAuthorizationFailed,
            Self::TransactionalId => ErrorCode::TransactionalIdAuthorizationFailed,
            Self::Cluster | Self::DelegationToken | Self::User => {
                ErrorCode::ClusterAuthorizationFailed
            }
        }
    }

    /// Kafka's name, as `kafka-acls.sh` prints it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Topic => "TOPIC",
            Self::Group => "GROUP",
            Self::Cluster => "CLUSTER",
            Self::TransactionalId => "TRANSACTIONAL_ID",
            Self::DelegationToken => "DELEGATION_TOKEN",
            Self::User => "USER",
        }
    }
}

impl PatternType {
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            3 => Some(Self::Literal),
            4 => Some(Self::Prefixed),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Literal => "LITERAL",
            Self::Prefixed => "PREFIXED",
        }
    }
}

const OPERATIONS: [AclOperation; 13] = [
    AclOperation::All,
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Create,
    AclOperation::Delete,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::ClusterAction,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
    AclOperation::IdempotentWrite,
    AclOperation::CreateTokens,
    AclOperation::DescribeTokens,
];

impl AclOperation {
    pub fn from_code(code: i8) -> Option<Self> {
        OPERATIONS.into_iter().find(|op| *op as i8 == code)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::All => "ALL",
            Self::Read => "READ",
            Self::Write => "WRITE",
            Self::Create => "CREATE",
            Self::Delete => "DELETE",
            Self::Alter => "ALTER",
            Self::Describe => "DESCRIBE",
            Self::ClusterAction => "CLUSTER_ACTION",
            Self::DescribeConfigs => "DESCRIBE_CONFIGS",
            Self::AlterConfigs => "ALTER_CONFIGS",
            Self::IdempotentWrite => "IDEMPOTENT_WRITE",
            Self::CreateTokens => "CREATE_TOKENS",
            Self::DescribeTokens => "DESCRIBE_TOKENS",
        }
    }

    /// Whether an ALLOW ACL of `self` permits `asked` (DENY ACLs refuse only their own
    /// operation, or every one for ALL).
    fn allows(self, asked: AclOperation) -> bool {
        use AclOperation::*;
        self == All
            || self == asked
            || (asked == Describe && matches!(self, Read | Write | Delete | Alter))
            || (asked == DescribeConfigs && self == AlterConfigs)
    }

    /// The operations Kafka reports in `authorized_operations` for a resource type.
    pub fn of_resource(resource_type: ResourceType) -> &'static [AclOperation] {
        use AclOperation::*;
        match resource_type {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Describe, Delete],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
            ResourceType::DelegationToken => &[Describe],
            ResourceType::User => &[CreateTokens, DescribeTokens],
        }
    }
}

impl Permission {
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            2 => Some(Self::Deny),
            3 => Some(Self::Allow),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Deny => "DENY",
            Self::Allow => "ALLOW",
        }
    }
}

/// One ACL (Kafka's `AclBinding`): a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `Type:name`, as `User:alice`; `User:*` for everyone.
    pub principal: String,
    /// A client address, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

impl std::fmt::Display for AclBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}:{}:{} {} {} from {}",
            self.permission.name(),
            self.resource_type.name(),
            self.pattern_type.name(),
            self.resource_name,
            self.principal,
            self.operation.name(),
            self.host
        )
    }
}

/// Why an ACL of a CreateAcls request is refused: answered INVALID_REQUEST with this message,
/// as Kafka's `AclControlManager.validateNewAcl`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AclError {
    #[error("unknown or unusable resource type {0}")]
    ResourceType(i8),
    #[error("unknown or unusable pattern type {0}: an ACL is LITERAL or PREFIXED")]
    PatternType(i8),
    #[error("unknown or unusable operation {0}")]
    Operation(i8),
    #[error("unknown or unusable permission type {0}")]
    Permission(i8),
    #[error("the principal {0:?} is not of the form Type:name")]
    Principal(String),
    #[error("the resource name is empty")]
    EmptyName,
    #[error("a CLUSTER ACL names the resource kafka-cluster, not {0:?}")]
    ClusterName(String),
}

impl AclError {
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }
}

/// An ACL of a CreateAcls request in its wire codes.
#[derive(Debug, Clone)]
pub struct AclCreation {
    pub resource_type: i8,
    pub resource_name: String,
    pub pattern_type: i8,
    pub principal: String,
    pub host: String,
    pub operation: i8,
    pub permission: i8,
}

impl AclCreation {
    /// The ACL it creates, checked as Kafka checks a new ACL.
    pub fn validate(&self) -> Result<AclBinding, AclError> {
        let resource_type = ResourceType::from_code(self.resource_type)
            .ok_or(AclError::ResourceType(self.resource_type))?;
        let pattern_type = PatternType::from_code(self.pattern_type)
            .ok_or(AclError::PatternType(self.pattern_type))?;
        let operation =
            AclOperation::from_code(self.operation).ok_or(AclError::Operation(self.operation))?;
        let permission =
            Permission::from_code(self.permission).ok_or(AclError::Permission(self.permission))?;
        if !is_principal(&self.principal) {
            return Err(AclError::Principal(self.principal.clone()));
        }
        if self.resource_name.is_empty() {
            return Err(AclError::EmptyName);
        }
        if resource_type == ResourceType::Cluster && self.resource_name != CLUSTER_NAME {
            return Err(AclError::ClusterName(self.resource_name.clone()));
        }
        Ok(AclBinding {
            resource_type,
            resource_name: self.resource_name.clone(),
            pattern_type,
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation,
            permission,
        })
    }
}

/// `Type:name` with both parts non-empty (Kafka's `SecurityUtils.parseKafkaPrincipal`).
pub fn is_principal(principal: &str) -> bool {
    matches!(principal.split_once(':'), Some((kind, name)) if !kind.is_empty() && !name.is_empty())
}

/// What a DescribeAcls or DeleteAcls filter asks for: `None` fields match anything (Kafka's
/// ANY, or a null string).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<Permission>,
}

/// A filter's pattern type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// ANY: every pattern type, the name compared exactly.
    Any,
    /// MATCH: every ACL that would apply to a resource of that name (LITERAL equal or `*`,
    /// PREFIXED a prefix of it).
    Match,
    Exactly(PatternType),
}

impl AclFilter {
    /// A filter from its wire codes; an unknown code (Kafka's UNKNOWN, 0) is INVALID_REQUEST.
    #[allow(clippy::too_many_arguments)]
    pub fn from_wire(
        resource_type: i8,
        resource_name: Option<String>,
        pattern_type: i8,
        principal: Option<String>,
        host: Option<String>,
        operation: i8,
        permission: i8,
    ) -> Result<Self, AclError> {
        const ANY: i8 = 1;
        fn any_or<T>(
            code: i8,
            parse: fn(i8) -> Option<T>,
            error: fn(i8) -> AclError,
        ) -> Result<Option<T>, AclError> {
            match code {
                ANY => Ok(None),
                code => parse(code).map(Some).ok_or(error(code)),
            }
        }
        let pattern = match pattern_type {
            ANY => PatternFilter::Any,
            2 => PatternFilter::Match,
            code => PatternFilter::Exactly(
                PatternType::from_code(code).ok_or(AclError::PatternType(code))?,
            ),
        };
        Ok(AclFilter {
            resource_type: any_or(
                resource_type,
                ResourceType::from_code,
                AclError::ResourceType,
            )?,
            resource_name,
            pattern,
            principal,
            host,
            operation: any_or(operation, AclOperation::from_code, AclError::Operation)?,
            permission: any_or(permission, Permission::from_code, AclError::Permission)?,
        })
    }

    /// Kafka's `AclBindingFilter.matches`.
    pub fn matches(&self, acl: &AclBinding) -> bool {
        let entry = self.principal.as_ref().is_none_or(|p| *p == acl.principal)
            && self.host.as_ref().is_none_or(|h| *h == acl.host)
            && self.operation.is_none_or(|op| op == acl.operation)
            && self.permission.is_none_or(|p| p == acl.permission);
        entry && self.matches_pattern(acl)
    }

    fn matches_pattern(&self, acl: &AclBinding) -> bool {
        if self.resource_type.is_some_and(|t| t != acl.resource_type) {
            return false;
        }
        let Some(name) = &self.resource_name else {
            return match self.pattern {
                PatternFilter::Exactly(p) => p == acl.pattern_type,
                PatternFilter::Any | PatternFilter::Match => true,
            };
        };
        match self.pattern {
            PatternFilter::Any => *name == acl.resource_name,
            PatternFilter::Exactly(p) => p == acl.pattern_type && *name == acl.resource_name,
            PatternFilter::Match => names(acl, name),
        }
    }
}

/// Whether the ACL's pattern names the resource `name`.
fn names(acl: &AclBinding, name: &str) -> bool {
    match acl.pattern_type {
        PatternType::Literal => acl.resource_name == name || acl.resource_name == WILDCARD,
        PatternType::Prefixed => name.starts_with(acl.resource_name.as_str()),
    }
}

/// The authorizer's settings (`authorizer.class.name`, `super.users`,
/// `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    pub super_users: Vec<String>,
    pub allow_if_no_acl: bool,
}

/// Who asks, from where.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    pub principal: &'a str,
    pub host: &'a str,
}

/// The ACLs of the cluster and the settings that decide with them.
pub struct Authorizer<'a> {
    pub config: &'a AuthorizerConfig,
    pub acls: &'a BTreeSet<AclBinding>,
}

impl Authorizer<'_> {
    /// Whether `who` may do `operation` on the resource.
    pub fn authorize(
        &self,
        who: Requester<'_>,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if self.is_super_user(who.principal) {
            return true;
        }
        let mut resource_has_acls = false;
        let mut allowed = false;
        for acl in self.acls_of(resource_type) {
            if !names(acl, name) {
                continue;
            }
            resource_has_acls = true;
            if !applies_to(acl, who) {
                continue;
            }
            match acl.permission {
                Permission::Deny
                    if acl.operation == AclOperation::All || acl.operation == operation =>
                {
                    return false
                }
                Permission::Deny => {}
                Permission::Allow => allowed |= acl.operation.allows(operation),
            }
        }
        allowed || (!resource_has_acls && self.config.allow_if_no_acl)
    }

    /// KIP-679's check by resource type (Kafka's `authorizeByResourceType`): whether `who`
    /// may do `operation` on some resource of the type, as InitProducerId asks for WRITE on
    /// any topic when IDEMPOTENT_WRITE on the cluster is not granted. A DENY of every name
    /// (LITERAL `*` or an empty prefix) refuses; otherwise an ALLOW of any name permits.
    pub fn authorize_any(
        &self,
        who: Requester<'_>,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if self.is_super_user(who.principal) {
            return true;
        }
        let mut any_acl = false;
        let mut allowed = false;
        for acl in self.acls_of(resource_type) {
            any_acl = true;
            if !applies_to(acl, who) {
                continue;
            }
            let every_name = match acl.pattern_type {
                PatternType::Literal => acl.resource_name == WILDCARD,
                PatternType::Prefixed => acl.resource_name.is_empty(),
            };
            match acl.permission {
                Permission::Deny
                    if every_name
                        && (acl.operation == AclOperation::All || acl.operation == operation) =>
                {
                    return false
                }
                Permission::Deny => {}
                Permission::Allow => allowed |= acl.operation.allows(operation),
            }
        }
        allowed || (!any_acl && self.config.allow_if_no_acl)
    }

    /// Kafka's `authorized_operations` bit field for a resource: bit `op` set for every
    /// operation of the resource type that `who` may do.
    pub fn authorized_operations(
        &self,
        who: Requester<'_>,
        resource_type: ResourceType,
        name: &str,
    ) -> i32 {
        let allowed = AclOperation::of_resource(resource_type)
            .iter()
            .copied()
            .filter(|op| self.authorize(who, *op, resource_type, name));
        operation_bits(allowed)
    }

    fn is_super_user(&self, principal: &str) -> bool {
        self.config.super_users.iter().any(|s| s == principal)
    }

    fn acls_of(&self, resource_type: ResourceType) -> impl Iterator<Item = &AclBinding> {
        self.acls
            .iter()
            .filter(move |acl| acl.resource_type == resource_type)
    }
}

/// Kafka's `authorized_operations` bit field: bit `op` set for each operation.
pub fn operation_bits(operations: impl IntoIterator<Item = AclOperation>) -> i32 {
    operations
        .into_iter()
        .fold(0, |bits, op| bits | (1 << (op as i32)))
}

/// CreateAcls decided by the active controller on the cluster's ACLs: the records of the
/// new ACLs and each creation's result, in request order. An ACL that exists already is
/// created again successfully (no record), as in Kafka.
pub fn decide_creations(
    existing: &BTreeSet<AclBinding>,
    creations: &[AclCreation],
) -> (Vec<MetadataRecord>, Vec<Result<AclBinding, AclError>>) {
    let mut added = BTreeSet::new();
    let results: Vec<_> = creations.iter().map(AclCreation::validate).collect();
    let records = results
        .iter()
        .flatten()
        .filter(|acl| !existing.contains(*acl) && added.insert((*acl).clone()))
        .cloned()
        .map(MetadataRecord::Acl)
        .collect();
    (records, results)
}

/// DeleteAcls decided on the cluster's ACLs: the records removing every ACL a valid filter
/// matches, and per filter the ACLs it removed (an ACL two filters match is listed under the
/// first).
pub fn decide_deletions(
    existing: &BTreeSet<AclBinding>,
    filters: &[Result<AclFilter, AclError>],
) -> (Vec<MetadataRecord>, Vec<Result<Vec<AclBinding>, AclError>>) {
    let mut removed = BTreeSet::new();
    let results: Vec<_> = filters
        .iter()
        .map(|filter| {
            let filter = filter.as_ref().map_err(Clone::clone)?;
            Ok(existing
                .iter()
                .filter(|acl| filter.matches(acl) && removed.insert((*acl).clone()))
                .cloned()
                .collect::<Vec<_>>())
        })
        .collect();
    let records = removed.into_iter().map(MetadataRecord::RemoveAcl).collect();
    (records, results)
}

fn applies_to(acl: &AclBinding, who: Requester<'_>) -> bool {
    (acl.principal == who.principal || acl.principal == WILDCARD_PRINCIPAL)
        && (acl.host == WILDCARD || acl.host == who.host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use AclOperation::*;
    use ResourceType::*;

    fn acl(
        permission: Permission,
        resource: (ResourceType, &str, PatternType),
        principal: &str,
        operation: AclOperation,
    ) -> AclBinding {
        AclBinding {
            resource_type: resource.0,
            resource_name: resource.1.into(),
            pattern_type: resource.2,
            principal: principal.into(),
            host: "*".into(),
            operation,
            permission,
        }
    }

    const ALICE: Requester = Requester {
        principal: "User:alice",
        host: "127.0.0.1",
    };

    fn check(
        acls: &[AclBinding],
        who: Requester,
        op: AclOperation,
        t: ResourceType,
        n: &str,
    ) -> bool {
        let acls: BTreeSet<AclBinding> = acls.iter().cloned().collect();
        let config = AuthorizerConfig::default();
        Authorizer {
            config: &config,
            acls: &acls,
        }
        .authorize(who, op, t, n)
    }

    #[test]
    fn nothing_is_allowed_without_an_acl_unless_configured_so() {
        assert!(!check(&[], ALICE, Read, Topic, "orders"));
        let acls = BTreeSet::new();
        let config = AuthorizerConfig {
            super_users: vec![],
            allow_if_no_acl: true,
        };
        let authorizer = Authorizer {
            config: &config,
            acls: &acls,
        };
        assert!(authorizer.authorize(ALICE, Read, Topic, "orders"));
        // An ACL for someone else on the resource turns the default off for it.
        let bob_only: BTreeSet<_> = [acl(
            Permission::Allow,
            (Topic, "orders", PatternType::Literal),
            "User:bob",
            Read,
        )]
        .into();
        let authorizer = Authorizer {
            config: &config,
            acls: &bob_only,
        };
        assert!(!authorizer.authorize(ALICE, Read, Topic, "orders"));
        assert!(authorizer.authorize(ALICE, Read, Topic, "payments"));
    }

    #[test]
    fn literal_prefixed_and_wildcard_names() {
        let acls = [
            acl(
                Permission::Allow,
                (Topic, "orders", PatternType::Literal),
                "User:alice",
                Write,
            ),
            acl(
                Permission::Allow,
                (Topic, "logs-", PatternType::Prefixed),
                "User:alice",
                Read,
            ),
            acl(
                Permission::Allow,
                (Group, "*", PatternType::Literal),
                "User:alice",
                Read,
            ),
        ];
        assert!(check(&acls, ALICE, Write, Topic, "orders"));
        assert!(!check(&acls, ALICE, Write, Topic, "orders2"));
        assert!(check(&acls, ALICE, Read, Topic, "logs-app"));
        assert!(!check(&acls, ALICE, Read, Topic, "log"));
        assert!(check(&acls, ALICE, Read, Group, "anything"));
        assert!(!check(&acls, ALICE, Read, TransactionalId, "anything"));
    }

    #[test]
    fn deny_beats_allow_and_implied_operations_only_allow() {
        let acls = [
            acl(
                Permission::Allow,
                (Topic, "*", PatternType::Literal),
                "User:*",
                All,
            ),
            acl(
                Permission::Deny,
                (Topic, "secret", PatternType::Literal),
                "User:alice",
                Read,
            ),
        ];
        assert!(!check(&acls, ALICE, Read, Topic, "secret"));
        // DENY READ does not deny DESCRIBE, which ALL allows.
        assert!(check(&acls, ALICE, Describe, Topic, "secret"));
        assert!(check(&acls, ALICE, Read, Topic, "public"));
        let write_only = [acl(
            Permission::Allow,
            (Topic, "t", PatternType::Literal),
            "User:alice",
            Write,
        )];
        assert!(check(&write_only, ALICE, Describe, Topic, "t"));
        assert!(!check(&write_only, ALICE, Read, Topic, "t"));
        let alter_configs = [acl(
            Permission::Allow,
            (Topic, "t", PatternType::Literal),
            "User:alice",
            AlterConfigs,
        )];
        assert!(check(&alter_configs, ALICE, DescribeConfigs, Topic, "t"));
        assert!(!check(&alter_configs, ALICE, Describe, Topic, "t"));
    }

    #[test]
    fn principal_and_host_must_match() {
        let mut from_elsewhere = acl(
            Permission::Allow,
            (Topic, "t", PatternType::Literal),
            "User:alice",
            Read,
        );
        from_elsewhere.host = "10.0.0.1".into();
        assert!(!check(&[from_elsewhere.clone()], ALICE, Read, Topic, "t"));
        from_elsewhere.host = "127.0.0.1".into();
        assert!(check(&[from_elsewhere], ALICE, Read, Topic, "t"));
        let bob = [acl(
            Permission::Allow,
            (Topic, "t", PatternType::Literal),
            "User:bob",
            Read,
        )];
        assert!(!check(&bob, ALICE, Read, Topic, "t"));
    }

    #[test]
    fn super_users_and_by_type_checks() {
        let deny_all = [acl(
            Permission::Deny,
            (Topic, "*", PatternType::Literal),
            "User:*",
            All,
        )];
        let acls: BTreeSet<_> = deny_all.iter().cloned().collect();
        let config = AuthorizerConfig {
            super_users: vec!["User:admin".into()],
            allow_if_no_acl: false,
        };
        let authorizer = Authorizer {
            config: &config,
            acls: &acls,
        };
        let admin = Requester {
            principal: "User:admin",
            host: "127.0.0.1",
        };
        assert!(authorizer.authorize(admin, Delete, Topic, "t"));
        assert!(!authorizer.authorize(ALICE, Delete, Topic, "t"));
        assert!(!authorizer.authorize_any(ALICE, Write, Topic));
        let some_topic: BTreeSet<_> = [
            acl(
                Permission::Allow,
                (Topic, "orders", PatternType::Literal),
                "User:alice",
                Write,
            ),
            acl(
                Permission::Deny,
                (Topic, "other", PatternType::Literal),
                "User:alice",
                Write,
            ),
        ]
        .into();
        let authorizer = Authorizer {
            config: &config,
            acls: &some_topic,
        };
        assert!(authorizer.authorize_any(ALICE, Write, Topic));
        assert!(!authorizer.authorize_any(ALICE, Write, TransactionalId));
    }

    #[test]
    fn authorized_operations_bits_are_kafkas() {
        let acls: BTreeSet<_> = [acl(
            Permission::Allow,
            (Topic, "t", PatternType::Literal),
            "User:alice",
            Read,
        )]
        .into();
        let config = AuthorizerConfig::default();
        let authorizer = Authorizer {
            config: &config,
            acls: &acls,
        };
        // READ (3) and the DESCRIBE (8) it implies.
        assert_eq!(
            authorizer.authorized_operations(ALICE, Topic, "t"),
            (1 << 3) | (1 << 8)
        );
    }

    #[test]
    fn filters_match_as_kafkas() {
        let literal = acl(
            Permission::Allow,
            (Topic, "orders", PatternType::Literal),
            "User:alice",
            Read,
        );
        let prefixed = acl(
            Permission::Deny,
            (Topic, "ord", PatternType::Prefixed),
            "User:bob",
            Write,
        );
        let wildcard = acl(
            Permission::Allow,
            (Topic, "*", PatternType::Literal),
            "User:*",
            Describe,
        );
        let filter = |name: Option<&str>, pattern: i8| {
            AclFilter::from_wire(2, name.map(String::from), pattern, None, None, 1, 1).unwrap()
        };
        let any = filter(None, 1);
        assert!([&literal, &prefixed, &wildcard]
            .iter()
            .all(|a| any.matches(a)));
        let matching = filter(Some("orders"), 2);
        assert!([&literal, &prefixed, &wildcard]
            .iter()
            .all(|a| matching.matches(a)));
        let exact = filter(Some("orders"), 1);
        assert!(exact.matches(&literal) && !exact.matches(&prefixed) && !exact.matches(&wildcard));
        let prefixed_only = filter(None, 4);
        assert!(prefixed_only.matches(&prefixed) && !prefixed_only.matches(&literal));
        let bob = AclFilter::from_wire(1, None, 1, Some("User:bob".into()), None, 4, 2).unwrap();
        assert!(bob.matches(&prefixed) && !bob.matches(&literal));
        assert_eq!(
            AclFilter::from_wire(0, None, 1, None, None, 1, 1),
            Err(AclError::ResourceType(0))
        );
    }

    #[test]
    fn new_acls_are_checked_as_kafka_checks_them() {
        let creation = AclCreation {
            resource_type: 2,
            resource_name: "t".into(),
            pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: 3,
            permission: 3,
        };
        assert!(creation.validate().is_ok());
        let with = |f: fn(&mut AclCreation)| {
            let mut c = creation.clone();
            f(&mut c);
            c.validate()
        };
        assert_eq!(with(|c| c.pattern_type = 2), Err(AclError::PatternType(2)));
        assert_eq!(
            with(|c| c.resource_type = 1),
            Err(AclError::ResourceType(1))
        );
        assert_eq!(with(|c| c.operation = 1), Err(AclError::Operation(1)));
        assert_eq!(with(|c| c.permission = 1), Err(AclError::Permission(1)));
        assert!(matches!(
            with(|c| c.principal = "alice".into()),
            Err(AclError::Principal(_))
        ));
        assert_eq!(with(|c| c.resource_name.clear()), Err(AclError::EmptyName));
        assert!(matches!(
            with(|c| c.resource_type = 4),
            Err(AclError::ClusterName(_))
        ));
    }

    #[test]
    fn creations_and_deletions_become_records() {
        let read = acl(
            Permission::Allow,
            (Topic, "t", PatternType::Literal),
            "User:alice",
            Read,
        );
        let existing: BTreeSet<_> = [read.clone()].into();
        let creation = |operation: i8| AclCreation {
            resource_type: 2,
            resource_name: "t".into(),
            pattern_type: 3,
            principal: "User:alice".into(),
            host: "*".into(),
            operation,
            permission: 3,
        };
        let (records, results) = decide_creations(
            &existing,
            &[creation(3), creation(4), creation(4), creation(0)],
        );
        let write = acl(
            Permission::Allow,
            (Topic, "t", PatternType::Literal),
            "User:alice",
            Write,
        );
        assert_eq!(records, vec![MetadataRecord::Acl(write.clone())]);
        assert_eq!(results[0], Ok(read.clone()));
        assert_eq!(results[3], Err(AclError::Operation(0)));
        let everything: BTreeSet<_> = [read.clone(), write.clone()].into();
        let reads = AclFilter::from_wire(2, None, 1, None, None, 3, 1);
        let all = AclFilter::from_wire(1, None, 1, None, None, 1, 1);
        let (records, results) = decide_deletions(&everything, &[reads, all]);
        assert_eq!(
            records,
            vec![
                MetadataRecord::RemoveAcl(read.clone()),
                MetadataRecord::RemoveAcl(write.clone())
            ]
        );
        assert_eq!(results, vec![Ok(vec![read]), Ok(vec![write])]);
    }
}
