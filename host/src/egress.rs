//! The egress policy: which destinations outbound calls (tools, token
//! endpoints) may reach. Link-local and cloud metadata addresses are blocked
//! by default (SSRF to `169.254.169.254` is the classic credential theft).

use std::{fmt, net::IpAddr};

use ipnet::IpNet;

/// Built-in blocked ranges and hosts.
const DEFAULT_BLOCK: &[&str] = &[
    "169.254.0.0/16",    // IPv4 link-local, incl. AWS/GCP/Azure metadata 169.254.169.254
    "fe80::/10",         // IPv6 link-local
    "fd00:ec2::254/128", // AWS metadata over IPv6
    "100.100.100.200/32", // Alibaba Cloud metadata
    "0.0.0.0/8",         // "this network"
    "::/128",            // unspecified, as 0.0.0.0
    "metadata.google.internal", // GCP metadata by name
    "metadata.goog",
    "metadata.azure.com",
];

/// One allow or block entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    Net(IpNet),
    Host(String),
    Suffix(String),
}

impl Rule {
    fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Some(Self::Net(net));
        }
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Some(Self::Net(IpNet::from(ip)));
        }
        let valid_host = |h: &str| {
            !h.is_empty()
                && h.split('.').all(|label| {
                    !label.is_empty()
                        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        if let Some(suffix) = text.strip_prefix("*.") {
            return valid_host(suffix).then(|| Self::Suffix(suffix.to_ascii_lowercase()));
        }
        valid_host(text).then(|| Self::Host(text.to_ascii_lowercase()))
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        matches!(self, Self::Net(net) if net.contains(&ip))
    }

    fn matches_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self {
            Self::Host(h) => *h == host,
            Self::Suffix(s) => host.ends_with(&format!(".{s}")),
            Self::Net(_) => false,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Net(n) => write!(f, "{n}"),
            Self::Host(h) => f.write_str(h),
            Self::Suffix(s) => write!(f, "*.{s}"),
        }
    }
}

/// IPv4-mapped IPv6 addresses are checked as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The IPv4 address an IPv6 address carries and that a network may route
/// it to: IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`, NAT64
/// `64:ff9b::/96` and `64:ff9b:1::/48`, 6to4 `2002::/16`, and a Teredo
/// client `2001::/32` (IPv4-mapped addresses are checked as IPv4 directly).
pub fn embedded_ipv4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let last32 = std::net::Ipv4Addr::from((u32::from(s[6]) << 16) | u32::from(s[7]));
    match s {
        [0, 0, 0, 0, 0, 0, _, _] if u32::from(last32) > 1 => Some(last32),
        [0, 0, 0, 0, 0xffff, 0, _, _] => Some(last32),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(last32),
        [0x2002, hi, lo, ..] => Some(std::net::Ipv4Addr::from(
            (u32::from(hi) << 16) | u32::from(lo),
        )),
        [0x2001, 0, ..] => Some(std::net::Ipv4Addr::from(!u32::from(last32))),
        _ => None,
    }
}

/// A destination the policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{destination} is blocked by the egress policy ({reason}); list it in general.egress.allow to permit it")]
pub struct EgressError {
    /// The host or address.
    pub destination: String,
    /// Which rule refused it.
    pub reason: String,
}

/// The compiled policy.
#[derive(Debug, Clone)]
pub struct EgressPolicy {
    allow: Vec<Rule>,
    block: Vec<Rule>,
    allow_only: bool,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            block: DEFAULT_BLOCK
                .iter()
                .filter_map(|r| Rule::parse(r))
                .collect(),
            allow_only: false,
        }
    }
}

impl EgressPolicy {
    /// The default policy plus `allow` and `block` entries. Returns the
    /// indexes of entries that are neither a host, an address nor a range.
    pub fn new(allow: &[String], block: &[String], allow_only: bool) -> (Self, Vec<(bool, usize)>) {
        let mut policy = Self {
            allow_only,
            ..Self::default()
        };
        let mut bad = Vec::new();
        for (i, entry) in allow.iter().enumerate() {
            match Rule::parse(entry) {
                Some(rule) => policy.allow.push(rule),
                None => bad.push((true, i)),
            }
        }
        for (i, entry) in block.iter().enumerate() {
            match Rule::parse(entry) {
                Some(rule) => policy.block.push(rule),
                None => bad.push((false, i)),
            }
        }
        (policy, bad)
    }

    fn decide(
        &self,
        destination: String,
        allowed: bool,
        blocked_by: Option<&Rule>,
    ) -> Result<(), EgressError> {
        if allowed {
            return Ok(());
        }
        if let Some(rule) = blocked_by {
            return Err(EgressError {
                destination,
                reason: format!("matches blocked {rule}"),
            });
        }
        if self.allow_only {
            return Err(EgressError {
                destination,
                reason: "allow_only is set and no allow entry matches".to_owned(),
            });
        }
        Ok(())
    }

    /// Checks a resolved address.
    ///
    /// # Errors
    ///
    /// [`EgressError`] naming the rule that refused it.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), EgressError> {
        let allowed = self.allow.iter().any(|r| r.matches_ip(ip));
        let blocked = self.block.iter().find(|r| r.matches_ip(ip));
        self.decide(canonical(ip).to_string(), allowed, blocked)?;
        // An address that carries an IPv4 address is refused when that one is,
        // unless the IPv6 address itself is allowed.
        match canonical(ip) {
            IpAddr::V6(v6) if !allowed => match embedded_ipv4(v6) {
                Some(v4) => self.check_ip(IpAddr::V4(v4)).map_err(|e| EgressError {
                    destination: format!("{v6} (carrying {})", e.destination),
                    reason: e.reason,
                }),
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Checks a URL's host before any connection: literal addresses against
    /// ranges, names against host rules. Names are checked again, address by
    /// address, when they are resolved.
    ///
    /// # Errors
    ///
    /// [`EgressError`] naming the rule that refused it.
    pub fn check_host(&self, host: &url::Host<&str>) -> Result<(), EgressError> {
        match host {
            url::Host::Ipv4(ip) => self.check_ip(IpAddr::V4(*ip)),
            url::Host::Ipv6(ip) => self.check_ip(IpAddr::V6(*ip)),
            url::Host::Domain(name) => {
                let allowed = self.allow.iter().any(|r| r.matches_host(name));
                let blocked = self.block.iter().find(|r| r.matches_host(name));
                if self.allow_only && !allowed {
                    // An address rule may still allow it once resolved.
                    let ranges_only = self.allow.iter().any(|r| matches!(r, Rule::Net(_)));
                    if ranges_only {
                        return blocked.map_or(Ok(()), |rule| {
                            Err(EgressError {
                                destination: (*name).to_owned(),
                                reason: format!("matches blocked {rule}"),
                            })
                        });
                    }
                }
                self.decide((*name).to_owned(), allowed, blocked)
            }
        }
    }

    /// Whether a name is explicitly allowed (its addresses are then not checked).
    pub fn host_allowed(&self, name: &str) -> bool {
        self.allow.iter().any(|r| r.matches_host(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(text: &str) -> url::Host<String> {
        url::Host::parse(text).expect("host")
    }

    fn check(policy: &EgressPolicy, text: &str) -> Result<(), EgressError> {
        let h = host(text);
        let h = match &h {
            url::Host::Domain(d) => url::Host::Domain(d.as_str()),
            url::Host::Ipv4(ip) => url::Host::Ipv4(*ip),
            url::Host::Ipv6(ip) => url::Host::Ipv6(*ip),
        };
        policy.check_host(&h)
    }

    #[test]
    fn metadata_and_link_local_are_blocked_by_default() {
        let policy = EgressPolicy::default();
        let err = check(&policy, "169.254.169.254").expect_err("blocked");
        assert_eq!(
            err.to_string(),
            "169.254.169.254 is blocked by the egress policy (matches blocked 169.254.0.0/16); list it in general.egress.allow to permit it"
        );
        assert!(check(&policy, "[fe80::1]").is_err());
        assert!(check(&policy, "[::ffff:169.254.169.254]").is_err());
        assert!(check(&policy, "metadata.google.internal").is_err());
        assert!(check(&policy, "127.0.0.1").is_ok());
        assert!(check(&policy, "api.github.com").is_ok());
    }

    #[test]
    fn every_address_form_of_a_blocked_address_is_blocked() {
        let policy = EgressPolicy::default();
        for form in [
            "[::ffff:169.254.169.254]",
            "[::ffff:a9fe:a9fe]",
            "[::169.254.169.254]",
            "[::ffff:0:169.254.169.254]",
            "[64:ff9b::169.254.169.254]",
            "[64:ff9b:1::a9fe:a9fe]",
            "[2002:a9fe:a9fe::1]",
            "[2001:0:4136:e378:8000:63bf:5601:5601]", // Teredo client 169.254.169.254 (inverted)
            "2852039166",                             // decimal
            "0xa9fea9fe",                             // hex
            "0251.0376.0251.0376",                    // octal
            "0xa9.0xfe.0xa9.0xfe",
            "169.254.43518",
            "169.254.169.254.",
            "[::]",
            "0.0.0.0",
            "0",
        ] {
            let err = check(&policy, form).expect_err(form);
            assert!(err.reason.contains("matches blocked"), "{form}: {err}");
        }
        for form in [
            "[2002:7f00:1::1]",
            "[::1]",
            "[64:ff9b::8.8.8.8]",
            "[2001:db8::1]",
        ] {
            assert!(check(&policy, form).is_ok(), "{form}");
        }
    }

    #[test]
    fn allow_overrides_block_and_allow_only_restricts() {
        let (policy, bad) =
            EgressPolicy::new(&["169.254.169.254".into()], &["*.evil.test".into()], false);
        assert!(bad.is_empty());
        assert!(check(&policy, "169.254.169.254").is_ok());
        assert!(check(&policy, "169.254.1.1").is_err());
        assert!(check(&policy, "x.evil.test").is_err());

        let (strict, _) = EgressPolicy::new(&["api.github.com".into()], &[], true);
        assert!(check(&strict, "api.github.com").is_ok());
        assert!(check(&strict, "example.com").is_err());
    }

    #[test]
    fn bad_entries_are_reported() {
        let (_, bad) = EgressPolicy::new(
            &["ok.example".into(), "not a host".into()],
            &["10.0.0.0/33".into()],
            false,
        );
        assert_eq!(bad, [(true, 1), (false, 0)]);
    }
}
