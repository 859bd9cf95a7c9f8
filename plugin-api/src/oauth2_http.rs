//! [`OAuth2HttpClient`]: lets the `oauth2` crate send its requests through the
//! host (enable the `oauth2` feature).

use std::{future::Future, pin::Pin};

use crate::{Error, Host, HttpRequest};

/// An [`oauth2::AsyncHttpClient`] that forwards every request to
/// [`Host::http`]. Redirects are never followed, as RFC 9700 requires for
/// token requests.
///
/// ```ignore
/// let client = OAuth2HttpClient::new(host.clone());
/// let token = oauth_client.exchange_code(code).request_async(&client).await?;
/// ```
#[derive(Debug, Clone)]
pub struct OAuth2HttpClient {
    host: Host,
}

impl OAuth2HttpClient {
    /// A client sending through `host`.
    pub fn new(host: Host) -> Self {
        Self { host }
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuth2HttpClient {
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, Error>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let mut host_request = HttpRequest::new(parts.method.as_str(), parts.uri.to_string());
            for (name, value) in &parts.headers {
                let value = value
                    .to_str()
                    .map_err(|_| Error::internal("request header is not valid UTF-8"))?;
                host_request = host_request.header(name.as_str(), value);
            }
            host_request.body = body;
            let response = self.host.http(host_request).await?;
            let mut builder = http::Response::builder().status(response.status);
            for (name, value) in &response.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            builder
                .body(response.body)
                .map_err(|_| Error::internal("invalid HTTP response from host"))
        })
    }
}

#[cfg(test)]
mod tests {
    use abi_stable::{
        sabi_trait::TD_Opaque,
        std_types::{RArc, ROption, RResult, RStr, RString, RVec},
    };
    use async_ffi::{FfiFuture, FutureExt};
    use oauth2::AsyncHttpClient;

    use super::*;
    use crate::abi::{self, HostServices_TO, LogLevel, PluginError};

    /// A host that answers every request by echoing what it received.
    #[derive(Clone)]
    struct EchoHost;

    impl abi::HostServices for EchoHost {
        fn http(
            &self,
            request: abi::HttpRequest,
        ) -> FfiFuture<RResult<abi::HttpResponse, PluginError>> {
            let auth = request
                .headers
                .iter()
                .find(|h| h.name.as_str().eq_ignore_ascii_case("authorization"))
                .map(|h| h.value.expose().to_owned())
                .unwrap_or_default();
            let body = format!(
                "{} {} auth={auth} body={}",
                request.method,
                request.url,
                String::from_utf8_lossy(&request.body)
            );
            async move {
                RResult::ROk(abi::HttpResponse {
                    status: 201,
                    headers: RVec::from(vec![abi::HttpHeader {
                        name: RString::from("content-type"),
                        value: abi::RSecret::new("text/plain"),
                    }]),
                    body: RVec::from(body.into_bytes()),
                })
            }
            .into_ffi()
        }
        fn log(&self, _: LogLevel, _: RStr<'_>, _: RStr<'_>) {}
        fn max_log_level(&self) -> ROption<LogLevel> {
            ROption::RNone
        }
        fn now_unix_ms(&self) -> i64 {
            0
        }
        fn sleep(&self, _: u64) -> FfiFuture<()> {
            async {}.into_ffi()
        }
        fn spawn(&self, _: FfiFuture<()>) {}
    }

    #[test]
    fn requests_and_responses_cross_the_host() {
        let host = Host::from_services(HostServices_TO::from_ptr(RArc::new(EchoHost), TD_Opaque));
        let client = OAuth2HttpClient::new(host);
        let request = http::Request::builder()
            .method("POST")
            .uri("https://as.example.com/token")
            .header("authorization", "Basic abc")
            .body(b"grant_type=client_credentials".to_vec())
            .expect("request");
        let response = futures_executor::block_on(client.call(request)).expect("response");
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["content-type"], "text/plain");
        assert_eq!(
            String::from_utf8_lossy(response.body()),
            "POST https://as.example.com/token auth=Basic abc body=grant_type=client_credentials"
        );
    }
}
