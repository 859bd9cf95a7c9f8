//! Calling a tool: build its request from the arguments, get the bound
//! provider's credentials for the user, apply them, send the request through
//! the outbound client. Used by `authhost call` (and the server later).

use std::{sync::Arc, time::Duration};

use authhost_plugin_api::{Capabilities, OutgoingRequest};
use http::{header::LOCATION, Method, StatusCode};
use sha2::{Digest, Sha256};

use crate::{
    broker::{Broker, BrokerError, Credentials},
    credentials::{apply, ApplyError, PreparedRequest},
    outbound::{loggable_url, Outbound, OutboundError},
    plugin::{CreateError, ProviderHandle},
    tools::{Args, ToolError},
    workflow::Workflow,
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
}

/// Why a tool call did not get an upstream response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No such tool.
    #[error("no tool named `{name}`{}", match suggestion { Some(s) => format!("; did you mean `{s}`?"), None => String::new() })]
    UnknownTool {
        /// The name asked for.
        name: String,
        /// The closest tool name.
        suggestion: Option<String>,
    },
    /// The arguments do not fit the tool.
    #[error("tool `{tool}`: {error}")]
    Arguments {
        /// The tool.
        tool: String,
        /// What is wrong (in the message, so not also a `source`).
        error: ToolError,
    },
    /// The provider instance could not be created.
    #[error(transparent)]
    Provider(#[from] CreateError),
    /// The provider failed or timed out, or its tokens could not be read or refreshed.
    #[error(transparent)]
    Credentials(#[from] BrokerError),
    /// The user must authorize the provider first.
    #[error("provider `{provider}` needs user `{user}` to authorize first: {reason}")]
    AuthorizationRequired {
        /// The provider instance.
        provider: String,
        /// The user.
        user: String,
        /// The provider's reason.
        reason: String,
        /// Scopes to ask for beyond the provider's own (the grant's and
        /// the tool's), when the tool needs more than the grant holds.
        scopes: Vec<String>,
    },
    /// The credentials could not be put in the request.
    #[error("provider `{provider}`: {error}")]
    Apply {
        /// The provider instance.
        provider: String,
        /// What could not be applied (in the message, so not also a `source`).
        error: ApplyError,
    },
    /// The request was refused by policy or failed in transit.
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

/// Calls a workflow's tools with credentials from the broker.
#[derive(Debug)]
pub struct Invoker {
    workflow: Arc<Workflow>,
    broker: Arc<Broker>,
}

impl Invoker {
    /// An invoker over `workflow`.
    pub fn new(workflow: Arc<Workflow>, broker: Arc<Broker>) -> Self {
        Self { workflow, broker }
    }

    /// The workflow.
    pub fn workflow(&self) -> &Arc<Workflow> {
        &self.workflow
    }

    /// The broker.
    pub fn broker(&self) -> &Arc<Broker> {
        &self.broker
    }

    /// The provider instance `name`.
    ///
    /// # Errors
    ///
    /// The workflow has no such instance.
    pub fn provider(&self, name: &str) -> Result<ProviderHandle, CreateError> {
        self.workflow.provider(name)
    }

    /// Builds `tool`'s request for `user` with `args`, credentials applied.
    ///
    /// # Errors
    ///
    /// Unknown tool, bad arguments, provider failures, "authorization
    /// required", or credentials that cannot be applied.
    pub async fn prepare(
        &self,
        tool: &str,
        user: &str,
        claims: &Claims,
        args: &Args,
    ) -> Result<PreparedRequest, InvokeError> {
        let Some(entry) = self.workflow.tools.get(tool) else {
            return Err(InvokeError::UnknownTool {
                name: tool.to_owned(),
                suggestion: crate::suggest::closest(
                    tool,
                    self.workflow.tools.keys().map(String::as_str),
                )
                .map(str::to_owned),
            });
        };
        let args =
            with_user_placeholders(entry.tool.as_ref(), user, claims, args).map_err(|error| {
                InvokeError::Arguments {
                    tool: tool.to_owned(),
                    error,
                }
            })?;
        let mut request = entry
            .tool
            .prepare(&args)
            .map_err(|error| InvokeError::Arguments {
                tool: tool.to_owned(),
                error,
            })?;
        let Some(provider_name) = entry.tool.auth_provider() else {
            return Ok(request);
        };
        let provider = self.provider(provider_name)?;
        let needed = entry.tool.scopes();
        if !needed.is_empty() && provider.capabilities().contains(Capabilities::INTERACTIVE) {
            if let Some(granted) = self.broker.granted_scopes(provider_name, user).await? {
                if let Some(missing) = needed.iter().find(|s| !granted.contains(s)) {
                    let mut scopes = granted;
                    scopes.extend(
                        needed
                            .iter()
                            .filter(|s| !scopes.contains(s))
                            .cloned()
                            .collect::<Vec<_>>(),
                    );
                    return Err(InvokeError::AuthorizationRequired {
                        provider: provider_name.to_owned(),
                        user: user.to_owned(),
                        reason: format!(
                            "tool `{tool}` needs the scope `{missing}`, which the grant lacks"
                        ),
                        scopes,
                    });
                }
            }
        }
        let outgoing = provider
            .capabilities()
            .contains(Capabilities::PER_REQUEST)
            .then(|| OutgoingRequest {
                method: request.method.to_string(),
                url: request.url.to_string(),
                body_sha256: request
                    .body
                    .as_ref()
                    .map(|b| hex::encode(Sha256::digest(b))),
            });
        match self.broker.credentials(&provider, user, outgoing).await? {
            Credentials::Ready(credentials) => {
                apply(&mut request, &credentials).map_err(|error| InvokeError::Apply {
                    provider: provider_name.to_owned(),
                    error,
                })?;
                Ok(request)
            }
            Credentials::AuthorizationRequired { reason } => {
                Err(InvokeError::AuthorizationRequired {
                    provider: provider_name.to_owned(),
                    user: user.to_owned(),
                    reason,
                    scopes: needed.to_vec(),
                })
            }
        }
    }

    /// Prepares and sends `tool`'s request. When the upstream answers 401
    /// to a stored grant's token, the grant is refreshed once and the
    /// request sent once more.
    ///
    /// # Errors
    ///
    /// As [`prepare`](Self::prepare), plus egress refusals and transport failures.
    pub async fn call(
        &self,
        tool: &str,
        user: &str,
        claims: &Claims,
        args: &Args,
    ) -> Result<CallResponse, InvokeError> {
        let request = self.prepare(tool, user, claims, args).await?;
        let response = send(&self.workflow.outbound, request).await?;
        if response.status != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        // A 401 to a token believed valid: refresh once, retry once (tool
        // requests are buffered, so they replay).
        let Some(provider) = self
            .workflow
            .tools
            .get(tool)
            .and_then(|entry| entry.tool.auth_provider())
        else {
            return Ok(response);
        };
        let provider = self.provider(provider)?;
        if !self.broker.refresh_rejected(&provider, user).await? {
            return Ok(response);
        }
        let request = self.prepare(tool, user, claims, args).await?;
        Ok(send(&self.workflow.outbound, request).await?)
    }
}

/// The caller's claims (from inbound authentication), for `{user.…}` placeholders.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// Checks the caller's arguments against the tool's parameters (defaults
/// filled in), then adds `{user.id}` and `{user.<claim>}` values for the
/// placeholders the tool uses. Those come only from authentication: a
/// caller's argument named `user.…` is refused.
fn with_user_placeholders(
    tool: &dyn crate::tools::Tool,
    user: &str,
    claims: &Claims,
    args: &Args,
) -> Result<Args, ToolError> {
    if let Some(name) = args.keys().find(|k| k.starts_with("user.")) {
        return Err(ToolError::Invalid {
            name: name.clone(),
            reason: "is reserved: `user.…` values come from the caller's authentication".to_owned(),
        });
    }
    let mut all = tool.parameters().apply(args)?;
    for placeholder in tool.arguments() {
        let Some(claim) = placeholder.strip_prefix("user.") else {
            continue;
        };
        let value = if claim == "id" {
            Some(user.to_owned())
        } else {
            claims.get(claim).and_then(|v| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                serde_json::Value::Bool(b) => Some(b.to_string()),
                _ => None,
            })
        };
        match value {
            Some(value) => {
                all.insert(placeholder.clone(), serde_json::Value::String(value));
            }
            None => {
                return Err(ToolError::Invalid {
                    name: placeholder.clone(),
                    reason: format!(
                    "needs the caller's `{claim}` claim, which their authentication does not carry"
                ),
                })
            }
        }
    }
    Ok(all)
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
        });
    }
    Err(OutboundError::Transport(
        loggable_url(&request.url),
        format!("more than {MAX_REDIRECTS} redirects"),
    ))
}
