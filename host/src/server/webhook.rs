//! Completion webhooks (`general.server.connect.webhook`): when a connect
//! flow finishes, a signed `POST` tells the application — so it need not
//! poll. The body names the flow, provider, user and outcome; it never
//! carries a token. Deliveries go through the outbound client (egress
//! policy, no redirects) and are retried with backoff.

use std::{sync::Arc, time::Duration};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use authhost_plugin_api::Secret;

use crate::outbound::{loggable_url, Outbound};

/// Attempts per event (the first, then after 1, 2, 4 and 8 seconds).
const ATTEMPTS: u32 = 5;

/// Where and how flow events are delivered.
#[derive(Debug)]
pub struct Webhook {
    url: url::Url,
    secret: Secret,
    outbound: Arc<Outbound>,
}

/// The `X-Authhost-Signature` value of `body` sent at `timestamp`:
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the secret>`.
/// Receivers recompute it, compare in constant time, and refuse old `t`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

impl Webhook {
    /// A webhook to `url`, signed with `secret`, sent through `outbound`.
    pub fn new(url: url::Url, secret: Secret, outbound: Arc<Outbound>) -> Self {
        Self {
            url,
            secret,
            outbound,
        }
    }

    /// Delivers `event` in the background, retrying failures with backoff.
    pub fn send(self: &Arc<Self>, event: serde_json::Value) {
        let webhook = self.clone();
        tokio::spawn(async move {
            let body = event.to_string().into_bytes();
            let mut delay = Duration::from_secs(1);
            for attempt in 1..=ATTEMPTS {
                match webhook.deliver(&body).await {
                    Ok(()) => return,
                    Err(reason) if attempt < ATTEMPTS => {
                        tracing::info!(url = %loggable_url(&webhook.url), attempt, %reason, "webhook delivery failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay *= 2;
                    }
                    Err(reason) => {
                        tracing::warn!(url = %loggable_url(&webhook.url), %reason, "webhook not delivered; giving up");
                    }
                }
            }
        });
    }

    async fn deliver(&self, body: &[u8]) -> Result<(), String> {
        self.outbound
            .check_destination(&self.url)
            .await
            .map_err(|e| e.to_string())?;
        let client = self.outbound.client().map_err(|e| e.to_string())?;
        let signature = signature(self.secret.expose(), crate::clock::now(), body);
        let response = client
            .post(self.url.clone())
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-authhost-signature", signature)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                crate::outbound::OutboundError::from_reqwest(
                    &loggable_url(&self.url),
                    self.outbound.request_timeout(),
                    &e,
                )
                .to_string()
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!(
                "the receiver answered {}",
                response.status().as_u16()
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_cover_time_and_body() {
        let a = signature("k".repeat(32).as_str(), 1_800_000_000, b"{}");
        assert!(a.starts_with("t=1800000000,v1="), "{a}");
        assert_ne!(a, signature("k".repeat(32).as_str(), 1_800_000_001, b"{}"));
        assert_ne!(a, signature("k".repeat(32).as_str(), 1_800_000_000, b"{ }"));
        assert_ne!(a, signature("j".repeat(32).as_str(), 1_800_000_000, b"{}"));
    }
}
