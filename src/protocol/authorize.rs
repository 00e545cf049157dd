//! Authorization of requests (Kafka's `AuthHelper`): what each handler asks before it acts,
//! against the cluster's ACLs in this broker's metadata. Without an authorizer
//! (`authorizer.class.name` empty) everything is allowed and nothing is looked up.

use kafka_protocol::messages::TopicName;

use super::{RequestContext, INTER_BROKER};
use crate::error_code::ErrorCode;
use crate::security::acl::{
    operation_bits, AclOperation, Authorizer, Requester, ResourceType, CLUSTER_NAME,
};

/// The message Kafka sends with an authorization error code.
pub const AUTHORIZATION_FAILED: &str = "Authorization failed.";

/// A request's partitions by topic, each with its refusal (`None`: allowed).
pub type Checked<P> = Vec<(TopicName, Vec<(P, Option<ErrorCode>)>)>;

impl RequestContext<'_> {
    /// Whether the request's principal may do `operation` on the resource; a refusal is
    /// logged as Kafka's authorizer logger logs it.
    pub fn may(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        let allowed = self.check(operation, resource_type, name);
        if !allowed {
            tracing::info!(principal = self.principal, host = %self.peer.ip(), operation = operation.name(), resource = %format!("{}:{name}", resource_type.name()), "authorization denied");
        }
        allowed
    }

    /// `may` as the error code Kafka answers for the resource's type when refused
    /// (TOPIC_, GROUP_, CLUSTER_ or TRANSACTIONAL_ID_AUTHORIZATION_FAILED).
    pub fn denied(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> Option<ErrorCode> {
        (!self.may(operation, resource_type, name)).then(|| resource_type.denial())
    }

    /// `may` on the CLUSTER resource.
    pub fn may_cluster(&self, operation: AclOperation) -> bool {
        self.may(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// `may`, without the log line: for lists that leave out what the principal may not see
    /// (Metadata's topics, ListGroups), where a refusal is not an error.
    pub fn can(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        self.check(operation, resource_type, name)
    }

    /// KIP-679: whether the principal may do `operation` on some resource of the type.
    pub fn may_any(&self, operation: AclOperation, resource_type: ResourceType) -> bool {
        self.decide(true, |authorizer, who| {
            authorizer.authorize_any(who, operation, resource_type)
        })
    }

    /// Kafka's `authorized_operations` bits for the resource (all of the type's operations
    /// without an authorizer).
    pub fn authorized_operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        let everything = operation_bits(AclOperation::of_resource(resource_type).iter().copied());
        self.decide(everything, |authorizer, who| {
            authorizer.authorized_operations(who, resource_type, name)
        })
    }

    /// A request's partitions by topic, each with the refusal of its topic (`None`: allowed),
    /// decided once per topic.
    pub fn refusals<P>(
        &self,
        topics: impl IntoIterator<Item = (TopicName, Vec<P>)>,
        refusal: impl Fn(&str) -> Option<ErrorCode>,
    ) -> Checked<P> {
        topics
            .into_iter()
            .map(|(name, partitions)| {
                let refused = refusal(name.0.as_str());
                (name, partitions.into_iter().map(|p| (p, refused)).collect())
            })
            .collect()
    }

    /// `refusals` for one operation on each topic: TOPIC_AUTHORIZATION_FAILED when not
    /// allowed.
    pub fn topic_refusals<P>(
        &self,
        topics: impl IntoIterator<Item = (TopicName, Vec<P>)>,
        operation: AclOperation,
    ) -> Checked<P> {
        self.refusals(topics, |topic| {
            self.denied(operation, ResourceType::Topic, topic)
        })
    }

    fn check(&self, operation: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        self.decide(true, |authorizer, who| {
            authorizer.authorize(who, operation, resource_type, name)
        })
    }

    /// Runs `decision` with the cluster's ACLs; `unrestricted` without an authorizer, and
    /// for the cluster's own nodes.
    fn decide<T>(
        &self,
        unrestricted: T,
        decision: impl FnOnce(&Authorizer<'_>, Requester<'_>) -> T,
    ) -> T {
        let Some(config) = &self.shard.config.authorizer else {
            return unrestricted;
        };
        if self.principal == INTER_BROKER {
            return unrestricted;
        }
        let meta = self.shard.meta();
        let host = self.peer.ip().to_string();
        let authorizer = Authorizer {
            config,
            acls: &meta.acls,
        };
        decision(&authorizer, self.requester(&host))
    }

    fn requester<'h>(&'h self, host: &'h str) -> Requester<'h> {
        Requester {
            principal: self.principal,
            host,
        }
    }
}

/// Whether a node's principal may send on the controller listener: CLUSTER_ACTION on the
/// cluster, as Kafka's controller asks of the requests between nodes (always without an
/// authorizer). A node's principal belongs in `super.users`: ACLs are metadata, which a voter
/// may not have yet when the first frames arrive.
pub fn may_act_on_controller(
    shard: &crate::shard::Shard,
    principal: &str,
    peer: std::net::SocketAddr,
) -> bool {
    let Some(config) = &shard.config.authorizer else {
        return true;
    };
    let meta = shard.meta();
    let host = peer.ip().to_string();
    let authorizer = Authorizer {
        config,
        acls: &meta.acls,
    };
    let who = Requester {
        principal,
        host: &host,
    };
    authorizer.authorize(
        who,
        AclOperation::ClusterAction,
        ResourceType::Cluster,
        CLUSTER_NAME,
    )
}
