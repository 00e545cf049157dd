//! Authentication (SASL PLAIN and SCRAM, KIP-84) as pure logic: the connection code moves the
//! tokens, the metadata keeps the SCRAM credentials.

pub mod acl;
pub mod credentials;
pub mod principal;
pub mod quota;
pub mod sasl;
pub mod scram;
