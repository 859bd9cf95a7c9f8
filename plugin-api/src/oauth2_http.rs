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
