//! Credentials a provider hands the host, and the outcome of `authenticate`.

use abi_stable::std_types::{RString, RVec};

use crate::{
    abi,
    convert::{opt, ropt, rsecret, secret, string},
    Secret,
};

/// One credential to apply to an outgoing request.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `name: value` header.
    Header {
        /// Header name, as configured (`X-API-Key`).
        name: String,
        /// Header value.
        value: Secret,
    },
    /// `?name=value` query parameter.
    Query {
        /// Parameter name.
        name: String,
        /// Parameter value.
        value: Secret,
    },
    /// A cookie, `Cookie: name=value`.
    Cookie {
        /// Cookie name.
        name: String,
        /// Cookie value.
        value: Secret,
    },
    /// `header_name: scheme token`.
    Bearer {
        /// The token.
        token: Secret,
        /// The scheme (`Bearer`); empty for a bare token.
        scheme: String,
        /// The header carrying it (`Authorization`).
        header_name: String,
    },
    /// `Authorization: Basic base64(username:password)`.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
}

impl Credential {
    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: Secret) -> Self {
        Self::Bearer {
            token,
            scheme: "Bearer".to_owned(),
            header_name: "Authorization".to_owned(),
        }
    }

    /// The kind of credential, for logs and tables (`header`, `bearer`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Header { .. } => "header",
            Self::Query { .. } => "query",
            Self::Cookie { .. } => "cookie",
            Self::Bearer { .. } => "bearer",
            Self::Basic { .. } => "basic",
        }
    }
}

impl From<Credential> for abi::Credential {
    /// Moves the strings (no copy); secrets are copied into their ABI wrapper.
    fn from(c: Credential) -> Self {
        match c {
            Credential::Header { name, value } => abi::Credential::Header {
                name: RString::from(name),
                value: rsecret(&value),
            },
            Credential::Query { name, value } => abi::Credential::Query {
                name: RString::from(name),
                value: rsecret(&value),
            },
            Credential::Cookie { name, value } => abi::Credential::Cookie {
                name: RString::from(name),
                value: rsecret(&value),
            },
            Credential::Bearer {
                token,
                scheme,
                header_name,
            } => abi::Credential::Bearer {
                token: rsecret(&token),
                scheme: RString::from(scheme),
                header_name: RString::from(header_name),
            },
            Credential::Basic { username, password } => abi::Credential::Basic {
                username: RString::from(username),
                password: rsecret(&password),
            },
        }
    }
}

impl From<abi::Credential> for Credential {
    fn from(c: abi::Credential) -> Self {
        match c {
            abi::Credential::Header { name, value } => Self::Header {
                name: string(name),
                value: secret(&value),
            },
            abi::Credential::Query { name, value } => Self::Query {
                name: string(name),
                value: secret(&value),
            },
            abi::Credential::Cookie { name, value } => Self::Cookie {
                name: string(name),
                value: secret(&value),
            },
            abi::Credential::Bearer {
                token,
                scheme,
                header_name,
            } => Self::Bearer {
                token: secret(&token),
                scheme: string(scheme),
                header_name: string(header_name),
            },
            abi::Credential::Basic { username, password } => Self::Basic {
                username: string(username),
                password: secret(&password),
            },
        }
    }
}

/// What `authenticate` returns.
#[derive(Debug, Clone)]
pub enum AuthOutcome {
    /// Credentials to apply.
    Credentials {
        /// The credentials, applied in order.
        credentials: Vec<Credential>,
        /// When they stop being valid (Unix seconds); `None` for static ones.
        expires_at: Option<i64>,
    },
    /// The user must authorize first.
    AuthorizationRequired {
        /// Why, in a short secret-free sentence.
        reason: String,
    },
}

impl AuthOutcome {
    /// Static credentials that never expire.
    pub fn credentials(credentials: Vec<Credential>) -> Self {
        Self::Credentials {
            credentials,
            expires_at: None,
        }
    }
}

impl From<AuthOutcome> for abi::AuthOutcome {
    fn from(o: AuthOutcome) -> Self {
        match o {
            AuthOutcome::Credentials {
                credentials,
                expires_at,
            } => abi::AuthOutcome::Credentials {
                credentials: credentials
                    .into_iter()
                    .map(abi::Credential::from)
                    .collect::<RVec<_>>(),
                expires_at: ropt(expires_at, |v| v),
            },
            AuthOutcome::AuthorizationRequired { reason } => {
                abi::AuthOutcome::AuthorizationRequired {
                    reason: RString::from(reason),
                }
            }
        }
    }
}

impl From<abi::AuthOutcome> for AuthOutcome {
    fn from(o: abi::AuthOutcome) -> Self {
        match o {
            abi::AuthOutcome::Credentials {
                credentials,
                expires_at,
            } => Self::Credentials {
                credentials: credentials.into_iter().map(Credential::from).collect(),
                expires_at: opt(expires_at, |v| v),
            },
            abi::AuthOutcome::AuthorizationRequired { reason } => Self::AuthorizationRequired {
                reason: string(reason),
            },
        }
    }
}
