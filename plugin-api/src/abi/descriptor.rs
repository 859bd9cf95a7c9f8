use abi_stable::{std_types::RString, StableAbi};

/// What a component can do, as bit flags. Unknown bits are ignored, so new
/// capabilities can be added within a `0.y` series.
#[repr(transparent)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities(pub u32);

impl Capabilities {
    /// No optional capability.
    pub const NONE: Self = Self(0);
    /// Needs the user to authorize in a browser first.
    pub const INTERACTIVE: Self = Self(1);
    /// Implements `refresh`.
    pub const REFRESHABLE: Self = Self(1 << 1);
    /// Implements `revoke`.
    pub const REVOCABLE: Self = Self(1 << 2);
    /// Uses the outgoing request (method, URL, body digest) to sign it.
    pub const PER_REQUEST: Self = Self(1 << 3);

    /// The same credentials serve every user (client credentials): the
    /// host caches one outcome per instance instead of one per user.
    pub const SHARED: Self = Self(1 << 4);

    /// Users supply the credentials themselves (`PUT /v1/credentials/{provider}`);
    /// the host keeps them per user and hands them back as the token set's
    /// `access_token` (a JSON document).
    pub const USER_SUPPLIED: Self = Self(1 << 5);

    /// Exchanges the caller's own inbound token (token exchange,
    /// on-behalf-of): the host passes the bearer token the caller presented
    /// as [`AuthContext::tokens`](crate::AuthContext::tokens)'
    /// `access_token`, and caches the outcome per (instance, caller token).
    /// Since 0.1.3.
    pub const CALLER_TOKEN: Self = Self(1 << 6);

    /// Authorizes with the device flow (RFC 8628) instead of a redirect:
    /// `authorization_url` answers the device authorization response as
    /// JSON (`device_code`, `user_code`, `verification_uri`,
    /// `verification_uri_complete`, `expires_in`, `interval`), and
    /// `exchange_code`, given the device code as `code`, polls the token
    /// endpoint once: `authorization_pending`, `slow_down`,
    /// `access_denied` and `expired_token` come back as errors with those
    /// OAuth codes. The host polls, honouring `interval` and `slow_down`.
    /// Since 0.1.3.
    pub const DEVICE_CODE: Self = Self(1 << 7);

    /// Signs request headers too (with `PER_REQUEST`): the host passes the
    /// outgoing request's headers in
    /// [`OutgoingRequest::headers`](crate::OutgoingRequest::headers).
    /// Within `0.y` they travel in the ABI as a token set marked
    /// `request_headers` (the ABI's request type is frozen); the SDK hides
    /// that. An older host passes none.
    /// Since 0.1.3.
    pub const SIGNS_HEADERS: Self = Self(1 << 8);

    /// Every capability with its name, in display order.
    pub const NAMED: [(Self, &'static str); 9] = [
        (Self::INTERACTIVE, "interactive"),
        (Self::REFRESHABLE, "refreshable"),
        (Self::REVOCABLE, "revocable"),
        (Self::PER_REQUEST, "per_request"),
        (Self::SHARED, "shared"),
        (Self::USER_SUPPLIED, "user_supplied"),
        (Self::CALLER_TOKEN, "caller_token"),
        (Self::DEVICE_CODE, "device_code"),
        (Self::SIGNS_HEADERS, "signs_headers"),
    ];

    /// Whether all bits of `other` are set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of two sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Names of the capabilities that are set.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMED
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, name)| *name)
            .collect()
    }
}

/// Describes one component a plugin offers.
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct ComponentDescriptor {
    /// `auth_provider` or `authenticator`; a string so the host can skip kinds
    /// it does not know. Frozen within `0.y`.
    pub component_type: RString,
    /// The type name workflows use in `_type` (`api_key`). Frozen within `0.y`.
    pub type_name: RString,
    /// One-line description. Frozen within `0.y`.
    pub description: RString,
    /// JSON Schema (draft 2020-12) of the instance configuration; secret
    /// fields carry `"writeOnly": true` and `"x-secret": true`. Frozen within `0.y`.
    pub config_schema: RString,
    /// An example configuration, as JSON, that validates against the schema.
    /// Frozen within `0.y`.
    pub example_config: RString,
    /// What the component can do. Frozen within `0.y` (new bits allowed).
    pub capabilities: Capabilities,
}
