//! authhost's AWS provider, in its own plugin so the AWS crates are built
//! only where it is used:
//!
//! - `aws_sigv4`: signs each outgoing request with AWS Signature Version 4
//!   (the `aws-sigv4` crate): `Authorization`, `X-Amz-Date`,
//!   `X-Amz-Content-Sha256` and, with temporary credentials,
//!   `X-Amz-Security-Token`. The signature covers the method, the URL
//!   (path and query), the host, the date, the payload hash, and the
//!   request's `Content-Type`, `Content-MD5` and `x-amz-*` headers.

use std::borrow::Cow;

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, Capabilities, CreateContext, Credential, Error,
    ErrorKind, Host, Secret,
};
use aws_sigv4::{
    http_request::{
        sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
        SigningSettings, UriPathNormalizationMode,
    },
    sign::v4,
};
use schemars::JsonSchema;
use serde::Deserialize;

/// AWS Signature Version 4.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigV4Config {
    /// The access key id (`AKIA…`, or `ASIA…` with a session token).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Secret,
    /// The session token of temporary credentials (STS); empty means none.
    pub session_token: Option<Secret>,
    /// The region (`us-east-1`).
    pub region: String,
    /// The service's signing name (`s3`, `execute-api`, `bedrock`, `es`…).
    pub service: String,
    /// Sign `UNSIGNED-PAYLOAD` instead of the body's hash (S3 allows it).
    #[serde(default)]
    pub unsigned_payload: bool,
}

/// The `aws_sigv4` provider.
pub struct SigV4 {
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Option<Secret>,
    region: String,
    service: String,
    unsigned_payload: bool,
    host: Option<Host>,
}

impl std::fmt::Debug for SigV4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigV4")
            .field("region", &self.region)
            .field("service", &self.service)
            .finish_non_exhaustive()
    }
}

/// A region or service name: lowercase letters, digits and `-`.
fn check_name(key: &str, value: &str) -> Result<(), Error> {
    if value.is_empty()
        || value.len() > 64
        || !value
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(Error::config(format!(
            "{key}: expected lowercase letters, digits and `-` (such as us-east-1 or execute-api)"
        )));
    }
    Ok(())
}

impl AuthProvider for SigV4 {
    const NAME: &'static str = "aws_sigv4";
    const DESCRIPTION: &'static str =
        "AWS Signature Version 4: each request signed with an access key (and session token) for a region and service";
    const CAPABILITIES: Capabilities = Capabilities::PER_REQUEST.union(Capabilities::SIGNS_HEADERS);
    type Config = SigV4Config;

    fn example_config() -> serde_json::Value {
        serde_json::json!({
            "access_key_id": "AKIAIOSFODNN7EXAMPLE",
            "secret_access_key": "${AWS_SECRET_ACCESS_KEY}",
            "region": "us-east-1",
            "service": "execute-api"
        })
    }

    fn create(config: SigV4Config, ctx: &CreateContext) -> Result<Self, Error> {
        check_name("region", &config.region)?;
        check_name("service", &config.service)?;
        if config.access_key_id.len() < 16
            || !config
                .access_key_id
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(Error::config(
                "access_key_id: expected an AWS access key id (16 or more uppercase letters and digits)",
            ));
        }
        if config.secret_access_key.expose().is_empty() {
            return Err(Error::config("secret_access_key: must not be empty"));
        }
        Ok(Self {
            access_key_id: config.access_key_id,
            secret_access_key: config.secret_access_key,
            // `${AWS_SESSION_TOKEN:-}` with long-lived keys: none.
            session_token: config.session_token.filter(|t| !t.expose().is_empty()),
            region: config.region,
            service: config.service,
            unsigned_payload: config.unsigned_payload,
            host: ctx.host.clone(),
        })
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        let request = ctx.request.ok_or_else(|| {
            Error::internal("aws_sigv4 signs each request, and the host gave none to sign")
        })?;
        let identity = aws_credential_types::Credentials::new(
            &self.access_key_id,
            self.secret_access_key.expose(),
            self.session_token.as_ref().map(|t| t.expose().to_owned()),
            None,
            "authhost",
        )
        .into();
        let mut settings = SigningSettings::default();
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
        if self.service == "s3" {
            // S3 signs the path as sent: encoded once, not normalized.
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let now = self
            .host
            .as_ref()
            .map(Host::now)
            .unwrap_or_else(std::time::SystemTime::now);
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(&self.service)
            .time(now)
            .settings(settings)
            .build()
            .map_err(|e| Error::internal(format!("SigV4 parameters: {e}")))?
            .into();
        let body = match (&request.body_sha256, self.unsigned_payload) {
            (_, true) => SignableBody::UnsignedPayload,
            (Some(hash), false) => SignableBody::Precomputed(hash.clone()),
            (None, false) => SignableBody::Bytes(&[]),
        };
        // What AWS asks to sign beyond host and date: the content type and
        // every x-amz-* header the request carries.
        let signed = request.headers.iter().filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            name == "content-type" || name == "content-md5" || name.starts_with("x-amz-")
        });
        let signable = SignableRequest::new(
            &request.method,
            Cow::Borrowed(request.url.as_str()),
            signed.map(|(name, value)| (name.as_str(), value.as_str())),
            body,
        )
        .map_err(|e| {
            Error::new(
                ErrorKind::InvalidRequest,
                format!("the request cannot be signed: {e}"),
            )
        })?;
        let (instructions, _) = sign(signable, &params)
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, format!("signing failed: {e}")))?
            .into_parts();
        let credentials = instructions
            .headers()
            .map(|(name, value)| Credential::Header {
                name: name.to_owned(),
                value: Secret::new(value),
            })
            .collect();
        Ok(AuthOutcome::Credentials {
            credentials,
            expires_at: None,
        })
    }
}

authhost_plugin_api::register_provider!(SigV4);
authhost_plugin_api::export_plugin!();
