//! `GET /metrics`: Prometheus text exposition of the gateway's counters:
//! invokes by outcome, the broker's cache hits, refreshes and refresh
//! failures by reason, "authorization required" answers, and a histogram of
//! upstream latency.

use std::{
    fmt::Write as _,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use crate::broker::BrokerStats;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Outcomes of `POST /v1/tools/{tool}/invoke` and of proxied requests, in
/// the order of their `outcome` label values.
#[derive(Debug, Clone, Copy)]
pub enum Outcome {
    /// The upstream answered (any status).
    Upstream,
    /// 401 `authorization_required`.
    AuthorizationRequired,
    /// The caller was refused or sent a bad request.
    ClientError,
    /// A plugin, the store or the network failed.
    Failed,
}

/// Outcome label values, in counter order.
const OUTCOMES: [&str; 4] = [
    "upstream",
    "authorization_required",
    "client_error",
    "failed",
];

/// The counters.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Invokes by provider of the tool, per outcome (in [`OUTCOMES`]
    /// order); `-` for tools without a provider and unknown tools. Fixed at
    /// start from the workflow, so callers cannot grow the label set.
    by_provider: std::collections::BTreeMap<String, [AtomicU64; 4]>,
    upstream: AtomicU64,
    authorization_required: AtomicU64,
    client_error: AtomicU64,
    failed: AtomicU64,
    /// Token hand-outs by provider: [granted, denied]; fixed at start like
    /// `by_provider`.
    handouts: std::collections::BTreeMap<String, [AtomicU64; 2]>,
    /// Proxied requests by provider, per outcome (in [`OUTCOMES`] order);
    /// fixed at start like `by_provider`.
    proxied: std::collections::BTreeMap<String, [AtomicU64; 4]>,
    latency_buckets: [AtomicU64; 11],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
}

impl Metrics {
    /// Counters for a workflow with these provider instances.
    pub fn for_providers<'p>(providers: impl Iterator<Item = &'p String>) -> Self {
        let mut by_provider: std::collections::BTreeMap<String, [AtomicU64; 4]> =
            providers.map(|p| (p.clone(), Default::default())).collect();
        let handouts = by_provider
            .keys()
            .map(|p| (p.clone(), Default::default()))
            .collect();
        let proxied = by_provider
            .keys()
            .map(|p| (p.clone(), Default::default()))
            .collect();
        by_provider.insert("-".to_owned(), Default::default());
        Self {
            by_provider,
            handouts,
            proxied,
            ..Self::default()
        }
    }

    /// Counts one invoke of a tool bound to `provider` (`None`: no provider,
    /// or an unknown tool).
    pub fn invoke(&self, provider: Option<&str>, outcome: Outcome) {
        let (counter, index) = match outcome {
            Outcome::Upstream => (&self.upstream, 0),
            Outcome::AuthorizationRequired => (&self.authorization_required, 1),
            Outcome::ClientError => (&self.client_error, 2),
            Outcome::Failed => (&self.failed, 3),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        if let Some(counters) = self.by_provider.get(provider.unwrap_or("-")) {
            counters[index].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one request through `/v1/proxy/{provider}/…`.
    pub fn proxied(&self, provider: &str, outcome: Outcome) {
        if let Some(counters) = self.proxied.get(provider) {
            counters[outcome as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one answer of the token hand-out for `provider`.
    pub fn handout(&self, provider: &str, granted: bool) {
        if let Some(counters) = self.handouts.get(provider) {
            counters[usize::from(!granted)].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records one upstream round trip.
    pub fn upstream_latency(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_sum_micros.fetch_add(
            u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The exposition text.
    pub fn render(&self, broker: &BrokerStats) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        out.push_str("# HELP authhost_invokes_total Tool invocations by outcome.\n# TYPE authhost_invokes_total counter\n");
        for (outcome, counter) in [
            ("upstream", &self.upstream),
            ("authorization_required", &self.authorization_required),
            ("client_error", &self.client_error),
            ("failed", &self.failed),
        ] {
            let _ = writeln!(
                out,
                "authhost_invokes_total{{outcome=\"{outcome}\"}} {}",
                get(counter)
            );
        }
        out.push_str("# HELP authhost_provider_invokes_total Tool invocations by the tool's provider and outcome.\n# TYPE authhost_provider_invokes_total counter\n");
        for (provider, counters) in &self.by_provider {
            for (outcome, count) in OUTCOMES.iter().zip(counters) {
                let count = get(count);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "authhost_provider_invokes_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {count}"
                    );
                }
            }
        }
        out.push_str("# HELP authhost_proxy_requests_total Requests through /v1/proxy/{provider}/ by provider and outcome.\n# TYPE authhost_proxy_requests_total counter\n");
        for (provider, counters) in &self.proxied {
            for (outcome, count) in OUTCOMES.iter().zip(counters) {
                let count = get(count);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "authhost_proxy_requests_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {count}"
                    );
                }
            }
        }
        out.push_str("# HELP authhost_token_handouts_total Access tokens handed out (or refused) by POST /v1/credentials/{provider}/token.\n# TYPE authhost_token_handouts_total counter\n");
        for (provider, counters) in &self.handouts {
            for (outcome, count) in ["granted", "denied"].iter().zip(counters) {
                let count = get(count);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "authhost_token_handouts_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {count}"
                    );
                }
            }
        }
        for (name, help, counts) in [
            (
                "authhost_provider_refreshes_total",
                "Refreshes by provider and outcome.",
                &broker.refreshes_by_provider,
            ),
            (
                "authhost_keep_alive_refreshes_total",
                "Refreshes of idle grants by the keep-alive leader, by provider and outcome.",
                &broker.keep_alive_by_provider,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((provider, outcome), count) in counts
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .iter()
            {
                let _ = writeln!(
                    out,
                    "{name}{{provider=\"{provider}\",outcome=\"{outcome}\"}} {count}"
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP authhost_keep_alive_leader 1 when this process holds the keep-alive leader lease.\n# TYPE authhost_keep_alive_leader gauge\nauthhost_keep_alive_leader {}",
            u8::from(broker.keep_alive_leader.load(Ordering::Relaxed))
        );
        let _ = writeln!(out, "# HELP authhost_credential_cache_hits_total Credentials served from memory.\n# TYPE authhost_credential_cache_hits_total counter\nauthhost_credential_cache_hits_total {}", get(&broker.cache_hits));
        let _ = writeln!(out, "# HELP authhost_token_refreshes_total Refreshes sent to authorization servers.\n# TYPE authhost_token_refreshes_total counter\nauthhost_token_refreshes_total {}", get(&broker.refreshes));
        let invalid = get(&broker.refresh_invalid_grant);
        let transient = get(&broker.refresh_failures).saturating_sub(invalid);
        let _ = writeln!(out, "# HELP authhost_token_refresh_failures_total Failed refreshes by reason.\n# TYPE authhost_token_refresh_failures_total counter\nauthhost_token_refresh_failures_total{{reason=\"invalid_grant\"}} {invalid}\nauthhost_token_refresh_failures_total{{reason=\"transient\"}} {transient}");
        let _ = writeln!(out, "# HELP authhost_broker_evictions_total Entries dropped from a full in-memory map of the broker.\n# TYPE authhost_broker_evictions_total counter\nauthhost_broker_evictions_total {}", get(&broker.evictions));
        let _ = writeln!(out, "# HELP authhost_authorization_required_total Answers asking the user to authorize.\n# TYPE authhost_authorization_required_total counter\nauthhost_authorization_required_total {}", get(&broker.authorization_required));
        out.push_str("# HELP authhost_upstream_latency_seconds Upstream round trips of tool calls.\n# TYPE authhost_upstream_latency_seconds histogram\n");
        for (bound, bucket) in BUCKETS.iter().zip(&self.latency_buckets) {
            let _ = writeln!(
                out,
                "authhost_upstream_latency_seconds_bucket{{le=\"{bound}\"}} {}",
                get(bucket)
            );
        }
        let count = get(&self.latency_count);
        let _ = writeln!(
            out,
            "authhost_upstream_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(
            out,
            "authhost_upstream_latency_seconds_sum {}",
            get(&self.latency_sum_micros) as f64 / 1e6
        );
        let _ = writeln!(out, "authhost_upstream_latency_seconds_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let m = Metrics::default();
        m.upstream_latency(Duration::from_millis(3));
        m.upstream_latency(Duration::from_millis(30));
        m.invoke(None, Outcome::Upstream);
        let text = m.render(&BrokerStats::default());
        assert!(
            text.contains("authhost_upstream_latency_seconds_bucket{le=\"0.005\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("authhost_upstream_latency_seconds_bucket{le=\"0.05\"} 2\n"));
        assert!(text.contains("authhost_upstream_latency_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("authhost_invokes_total{outcome=\"upstream\"} 1\n"));
    }
}
