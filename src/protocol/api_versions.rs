//! ApiVersions (key 18): the versions in [`super::SUPPORTED_APIS`], nothing more.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::ApiVersionsResponse;

use super::SUPPORTED_APIS;
use crate::error_code::ErrorCode;

pub fn response() -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(
        SUPPORTED_APIS
            .iter()
            .map(|&(key, min, max)| {
                ApiVersion::default()
                    .with_api_key(key as i16)
                    .with_min_version(min)
                    .with_max_version(max)
            })
            .collect(),
    )
}

/// The answer to an ApiVersions request newer than we speak (sent as v0).
pub fn unsupported_version_response() -> ApiVersionsResponse {
    response().with_error_code(ErrorCode::UnsupportedVersion.code())
}
