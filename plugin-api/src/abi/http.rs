use std::fmt;

use abi_stable::{
    std_types::{RString, RVec},
    StableAbi,
};

use super::RSecret;

/// One HTTP header. Values are treated as secrets: they often are.
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct HttpHeader {
    /// Header name. Frozen within `0.y`.
    pub name: RString,
    /// Header value. Frozen within `0.y`.
    pub value: RSecret,
}

/// An HTTP request a plugin asks the host to send.
///
/// The host sends it with its own client: its timeouts, its egress policy,
/// and no redirects followed (token endpoints must not redirect).
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct HttpRequest {
    /// `GET`, `POST`, …. Frozen within `0.y`.
    pub method: RString,
    /// Absolute `http` or `https` URL. Frozen within `0.y`.
    pub url: RString,
    /// Request headers. Frozen within `0.y`.
    pub headers: RVec<HttpHeader>,
    /// Request body; may hold secrets (client secrets in a form). Frozen within `0.y`.
    pub body: RVec<u8>,
    /// Timeout in milliseconds; `0` means the host's default. Frozen within `0.y`.
    pub timeout_ms: u64,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("timeout_ms", &self.timeout_ms)
            .finish()
    }
}

/// The host's answer to an [`HttpRequest`].
///
/// Versioning: frozen within a `0.y` series.
#[repr(C)]
#[derive(StableAbi, Clone)]
pub struct HttpResponse {
    /// Status code. Frozen within `0.y`.
    pub status: u16,
    /// Response headers. Frozen within `0.y`.
    pub headers: RVec<HttpHeader>,
    /// Response body; may hold tokens. Frozen within `0.y`.
    pub body: RVec<u8>,
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}
