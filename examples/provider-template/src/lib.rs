//! `request_signature`: signs each outgoing request with HMAC-SHA256, the
//! way many webhook and partner APIs ask (`X-Signature`, `X-Timestamp`).
//!
//! Build and install: see this crate's `Cargo.toml`.
//!
//! It shows the parts of the plugin API most providers need: a config with a
//! [`Secret`], schema descriptions from doc comments, defaults, the
//! per-request context (method, URL, body digest) and the host's clock.

use authhost_plugin_api::{
    AuthContext, AuthOutcome, AuthProvider, Capabilities, CreateContext, Credential, Error, Secret,
};
use hmac::{Hmac, Mac};
use schemars::JsonSchema;
use serde::Deserialize;
use sha2::Sha256;

fn default_signature_header() -> String {
    "X-Signature".to_owned()
}

fn default_timestamp_header() -> String {
    "X-Timestamp".to_owned()
}

/// Signs `timestamp \n method \n url \n body-sha256` with a shared secret.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSignatureConfig {
    /// The shared signing secret.
    pub secret: Secret,
    /// The header that carries the hex signature.
    #[serde(default = "default_signature_header")]
    pub signature_header: String,
    /// The header that carries the Unix timestamp that was signed.
    #[serde(default = "default_timestamp_header")]
    pub timestamp_header: String,
}

/// The `request_signature` provider.
#[derive(Debug)]
pub struct RequestSignature {
    config: RequestSignatureConfig,
    clock: fn() -> i64,
}

fn system_clock() -> i64 {
    authhost_plugin_api::Host::current()
        .map(|host| host.now())
        .unwrap_or_else(std::time::SystemTime::now)
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl RequestSignature {
    /// The hex HMAC-SHA256 of the canonical request.
    fn sign(&self, timestamp: i64, method: &str, url: &str, body_sha256: &str) -> String {
        // `new_from_slice` accepts keys of any length for HMAC.
        let mut mac = Hmac::<Sha256>::new_from_slice(self.config.secret.expose().as_bytes())
            .expect("HMAC takes keys of any size");
        mac.update(format!("{timestamp}\n{method}\n{url}\n{body_sha256}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl AuthProvider for RequestSignature {
    const NAME: &'static str = "request_signature";
    const DESCRIPTION: &'static str = "HMAC-SHA256 signature of each request in a header";
    const CAPABILITIES: Capabilities = Capabilities::PER_REQUEST;
    type Config = RequestSignatureConfig;

    fn example_config() -> serde_json::Value {
        serde_json::json!({ "secret": "${PARTNER_SIGNING_SECRET}", "signature_header": "X-Signature" })
    }

    fn create(config: RequestSignatureConfig, _: &CreateContext) -> Result<Self, Error> {
        if config.secret.expose().is_empty() {
            return Err(Error::config("secret: must not be empty"));
        }
        Ok(Self {
            config,
            clock: system_clock,
        })
    }

    async fn authenticate(&self, ctx: AuthContext) -> Result<AuthOutcome, Error> {
        let request = ctx.request.ok_or_else(|| {
            Error::config("request_signature needs the outgoing request; call it through a tool")
        })?;
        let timestamp = (self.clock)();
        let body = request.body_sha256.as_deref().unwrap_or("");
        let signature = self.sign(timestamp, &request.method, &request.url, body);
        Ok(AuthOutcome::credentials(vec![
            Credential::Header {
                name: self.config.timestamp_header.clone(),
                value: Secret::new(timestamp.to_string()),
            },
            Credential::Header {
                name: self.config.signature_header.clone(),
                value: Secret::new(signature),
            },
        ]))
    }
}

authhost_plugin_api::register_provider!(RequestSignature);
authhost_plugin_api::export_plugin!();

#[cfg(test)]
mod tests {
    use authhost_plugin_api::OutgoingRequest;

    use super::*;

    fn provider() -> RequestSignature {
        RequestSignature {
            config: RequestSignatureConfig {
                secret: Secret::new("key"),
                signature_header: default_signature_header(),
                timestamp_header: default_timestamp_header(),
            },
            clock: || 1_700_000_000,
        }
    }

    #[test]
    fn signs_the_canonical_request() {
        let ctx = AuthContext {
            user_id: "alice".into(),
            tokens: None,
            request: Some(OutgoingRequest {
                headers: Vec::new(),
                method: "POST".into(),
                url: "https://api.example.com/v1/orders".into(),
                body_sha256: Some("abc".into()),
            }),
        };
        let outcome = futures_executor::block_on(provider().authenticate(ctx)).expect("signed");
        let AuthOutcome::Credentials { credentials, .. } = outcome else {
            panic!("credentials expected")
        };
        let expected = provider().sign(
            1_700_000_000,
            "POST",
            "https://api.example.com/v1/orders",
            "abc",
        );
        assert!(matches!(&credentials[1], Credential::Header { name, value }
            if name == "X-Signature" && value.expose() == expected));
        assert!(matches!(&credentials[0], Credential::Header { value, .. }
            if value.expose() == "1700000000"));
    }

    #[test]
    fn without_a_request_it_says_why() {
        let err = futures_executor::block_on(provider().authenticate(AuthContext::for_user("a")))
            .expect_err("no request");
        assert!(err.message().contains("needs the outgoing request"));
    }
}
