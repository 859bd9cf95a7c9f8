//! Sending a prepared request upstream: the egress policy checked for
//! every hop, redirects followed only within the same origin (credentials
//! never follow a redirect to another host), the answer read up to the
//! response size limit.

use std::time::Duration;

use http::{header::LOCATION, Method, StatusCode};

use crate::{
    credentials::PreparedRequest,
    outbound::{loggable_url, Outbound, OutboundError},
};

/// Most redirects followed (same origin only).
const MAX_REDIRECTS: usize = 5;

/// The upstream's answer.
#[derive(Debug, Clone)]
pub struct CallResponse {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// Response body.
    pub body: Vec<u8>,
    /// The final URL, without its query.
    pub url: String,
    /// Time spent waiting for the upstream (all redirects included).
    pub elapsed: Duration,
    /// A remote MCP server's `CallToolResult`, for its tools (the body is
    /// the same JSON).
    pub tool_result: Option<serde_json::Value>,
}

/// Sends a prepared request. Redirects are followed only within the same
/// origin (scheme, host, port), so credentials never follow a redirect to
/// another host; a cross-origin redirect is returned as the response.
///
/// # Errors
///
/// [`OutboundError`] for policy refusals, timeouts and transport failures.
#[tracing::instrument(name = "upstream", skip_all, fields(url = %loggable_url(&request.url)))]
pub async fn send(
    outbound: &Outbound,
    mut request: PreparedRequest,
) -> Result<CallResponse, OutboundError> {
    let client = outbound
        .client()
        .map_err(|e| OutboundError::Transport("(client)".to_owned(), e.to_string()))?;
    let timeout: Duration = request
        .timeout
        .unwrap_or_else(|| outbound.request_timeout());
    let started = std::time::Instant::now();
    for _ in 0..=MAX_REDIRECTS {
        outbound.check_destination(&request.url).await?;
        let destination = loggable_url(&request.url);
        let mut builder = client
            .request(request.method.clone(), request.url.clone())
            .headers(request.headers.clone())
            .timeout(timeout);
        if let Some(body) = &request.body {
            builder = builder.body(body.clone());
        }
        let response = builder
            .send()
            .await
            .map_err(|e| OutboundError::from_reqwest(&destination, timeout, &e))?;
        let status = response.status();
        tracing::debug!(url = %destination, status = status.as_u16(), elapsed_ms = started.elapsed().as_millis() as u64, "tool request");
        let next = status
            .is_redirection()
            .then(|| response.headers().get(LOCATION))
            .flatten()
            .and_then(|l| l.to_str().ok())
            .and_then(|l| request.url.join(l).ok())
            .filter(|next| next.origin() == request.url.origin());
        if let Some(next) = next {
            if matches!(status, StatusCode::SEE_OTHER)
                || (matches!(status, StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND)
                    && request.method == Method::POST)
            {
                request.method = Method::GET;
                request.body = None;
                request.headers.remove(http::header::CONTENT_TYPE);
            }
            request.url = next;
            continue;
        }
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = crate::outbound::read_limited(
            response,
            outbound.max_response_bytes(),
            &destination,
            timeout,
        )
        .await?;
        return Ok(CallResponse {
            status,
            headers,
            body,
            url: destination,
            elapsed: started.elapsed(),
            tool_result: None,
        });
    }
    Err(OutboundError::Transport(
        loggable_url(&request.url),
        format!("more than {MAX_REDIRECTS} redirects"),
    ))
}
