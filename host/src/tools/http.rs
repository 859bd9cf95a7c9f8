//! The `http` tool type: a request whose URL, headers, query and body may
//! hold `{arg}` placeholders.

use std::collections::BTreeMap;

use ::http::{header::CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, Method};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{template::Template, Args, ConfigProblem, Parameters, Tool, ToolError, ToolType};
use crate::{credentials::PreparedRequest, duration::DurationSpec, outbound::Outbound};

/// HTTP methods a tool may use.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET.
    #[default]
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
}

impl HttpMethod {
    fn method(self) -> Method {
        match self {
            Self::Get => Method::GET,
            Self::Post => Method::POST,
            Self::Put => Method::PUT,
            Self::Patch => Method::PATCH,
            Self::Delete => Method::DELETE,
            Self::Head => Method::HEAD,
        }
    }
}

/// An HTTP call. `{name}` placeholders in `url`, header and query values and
/// body strings are filled from the call's arguments.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    /// What the tool does.
    pub description: Option<String>,
    /// HTTP method.
    #[serde(default)]
    pub method: HttpMethod,
    /// Absolute http(s) URL. Placeholders may appear in the path and query
    /// (values are percent-encoded), never in the scheme, host or port.
    #[schemars(length(min = 1))]
    pub url: String,
    /// Request headers; values may hold placeholders.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Query parameters added to the URL; values may hold placeholders.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A JSON body; its strings may hold placeholders.
    pub body: Option<serde_json::Value>,
    /// Longest the request may take (default: general.timeouts.http).
    pub timeout: Option<DurationSpec>,
    /// The `authentication` entry whose credentials the call carries.
    pub auth_provider: Option<String>,
    /// OAuth scopes the call needs: when the user's grant lacks one, the
    /// caller is asked to authorize again with the grant's scopes plus these.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// The arguments, as a JSON Schema object (`type: object`,
    /// `properties` with types, enums, defaults; `required`). One property
    /// per placeholder. Without it, every placeholder is a required string,
    /// number or boolean. Callers are checked against it and MCP clients
    /// see it.
    pub parameters: Option<serde_json::Value>,
}

/// The `http` tool type.
#[derive(Debug, Clone, Copy)]
pub struct HttpToolType;

#[derive(Debug, Clone)]
enum BodyTemplate {
    String(Template),
    Array(Vec<BodyTemplate>),
    Object(Vec<(String, BodyTemplate)>),
    Other(serde_json::Value),
}

impl BodyTemplate {
    fn parse(value: &serde_json::Value, pointer: &str, problems: &mut Vec<ConfigProblem>) -> Self {
        match value {
            serde_json::Value::String(s) => match Template::parse(s) {
                Ok(t) => Self::String(t),
                Err(e) => {
                    problems.push((pointer.to_owned(), e));
                    Self::Other(serde_json::Value::Null)
                }
            },
            serde_json::Value::Array(items) => Self::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Self::parse(v, &format!("{pointer}/{i}"), problems))
                    .collect(),
            ),
            serde_json::Value::Object(map) => Self::Object(
                map.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            Self::parse(v, &format!("{pointer}/{k}"), problems),
                        )
                    })
                    .collect(),
            ),
            other => Self::Other(other.clone()),
        }
    }

    fn args(&self, out: &mut Vec<String>) {
        match self {
            Self::String(t) => out.extend(t.args().map(str::to_owned)),
            Self::Array(items) => items.iter().for_each(|i| i.args(out)),
            Self::Object(entries) => entries.iter().for_each(|(_, v)| v.args(out)),
            Self::Other(_) => {}
        }
    }

    fn render(&self, args: &Args) -> Result<serde_json::Value, ToolError> {
        Ok(match self {
            Self::String(t) => match t.sole_placeholder() {
                Some(name) => args
                    .get(name)
                    .cloned()
                    .ok_or_else(|| super::MissingArg(name.to_owned()))?,
                None => serde_json::Value::String(t.render(args, false)?),
            },
            Self::Array(items) => items
                .iter()
                .map(|i| i.render(args))
                .collect::<Result<_, _>>()?,
            Self::Object(entries) => serde_json::Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), v.render(args)?)))
                    .collect::<Result<_, ToolError>>()?,
            ),
            Self::Other(v) => v.clone(),
        })
    }
}

/// A configured `http` tool.
#[derive(Debug, Clone)]
pub struct HttpTool {
    description: Option<String>,
    method: Method,
    url: Template,
    /// The URL parsed once, when it has no placeholder (the hot path
    /// clones it instead of parsing it, IDNA and all, for every call).
    parsed_url: Option<url::Url>,
    /// The path the written URL starts with: a filled URL never leaves it.
    path_prefix: String,
    headers: Vec<(HeaderName, Template)>,
    query: Vec<(String, Template)>,
    body: Option<BodyTemplate>,
    timeout: Option<std::time::Duration>,
    auth_provider: Option<String>,
    scopes: Vec<String>,
    parameters: Parameters,
}

fn check_url(url: &Template, outbound: &Outbound) -> Result<(), String> {
    let filled: Args = url.args().map(|a| (a.to_owned(), "x".into())).collect();
    let sample = url.render(&filled, true).map_err(|e| e.to_string())?;
    let parsed =
        url::Url::parse(&sample).map_err(|e| format!("is not a valid absolute URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!(
            "uses `{}`: only http and https URLs are allowed",
            parsed.scheme()
        ));
    }
    if super::has_dot_segment(&sample) {
        return Err("has a `.` or `..` path segment; write the path it stands for".to_owned());
    }
    if !url.is_literal() {
        let prefix = url.literal_prefix();
        let authority_closed = prefix
            .split_once("://")
            .is_some_and(|(_, rest)| rest.contains(['/', '?', '#']));
        if !authority_closed {
            return Err("has a placeholder in the scheme, host or port: credentials would go wherever the caller says".to_owned());
        }
    }
    outbound.check_url(&parsed).map_err(|e| e.to_string())
}

/// Every placeholder of a tool's templates, sorted, each once.
fn placeholder_names(
    url: Option<&Template>,
    headers: &[(HeaderName, Template)],
    query: &[(String, Template)],
    body: Option<&BodyTemplate>,
) -> Vec<String> {
    let mut out: Vec<String> = url
        .iter()
        .flat_map(|u| u.args())
        .map(str::to_owned)
        .collect();
    for (_, t) in headers {
        out.extend(t.args().map(str::to_owned));
    }
    for (_, t) in query {
        out.extend(t.args().map(str::to_owned));
    }
    if let Some(body) = body {
        body.args(&mut out);
    }
    out.sort();
    out.dedup();
    out
}

/// The path of the URL's literal part before its first placeholder.
fn path_prefix(url: &Template) -> String {
    if url.is_literal() {
        return String::new();
    }
    url::Url::parse(url.literal_prefix())
        .map(|u| u.path().to_owned())
        .unwrap_or_else(|_| "/".to_owned())
}

impl ToolType for HttpToolType {
    fn name(&self) -> &'static str {
        "http"
    }

    fn description(&self) -> &'static str {
        "An HTTP request with {arg} placeholders and the bound provider's credentials"
    }

    fn config_schema(&self) -> serde_json::Value {
        authhost_plugin_api::config_schema::<HttpToolConfig>()
    }

    fn build(
        &self,
        _name: &str,
        config: &serde_json::Value,
        outbound: &Outbound,
    ) -> Result<Box<dyn Tool>, Vec<ConfigProblem>> {
        let config: HttpToolConfig = serde_json::from_value(config.clone()).map_err(|e| {
            vec![(
                String::new(),
                format!(
                    "invalid tool: {}",
                    e.to_string().split(" at line").next().unwrap_or_default()
                ),
            )]
        })?;
        let mut problems = Vec::new();
        let url = match Template::parse(&config.url) {
            Ok(t) => {
                if let Err(e) = check_url(&t, outbound) {
                    problems.push(("/url".to_owned(), e));
                }
                Some(t)
            }
            Err(e) => {
                problems.push(("/url".to_owned(), e));
                None
            }
        };
        let mut headers = Vec::new();
        for (name, value) in &config.headers {
            let pointer = format!("/headers/{}", crate::json_pointer::segment(name));
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                problems.push((pointer, format!("`{name}` is not a valid HTTP header name")));
                continue;
            };
            match Template::parse(value) {
                Ok(t) if t.is_literal() && HeaderValue::from_str(value).is_err() => {
                    problems.push((
                        pointer,
                        "cannot be sent in a header (control characters)".to_owned(),
                    ))
                }
                Ok(t) => headers.push((header, t)),
                Err(e) => problems.push((pointer, e)),
            }
        }
        let mut query = Vec::new();
        for (name, value) in &config.query {
            match Template::parse(value) {
                Ok(t) => query.push((name.clone(), t)),
                Err(e) => {
                    problems.push((format!("/query/{}", crate::json_pointer::segment(name)), e))
                }
            }
        }
        let body = config
            .body
            .as_ref()
            .map(|b| BodyTemplate::parse(b, "/body", &mut problems));
        let mut placeholders = placeholder_names(url.as_ref(), &headers, &query, body.as_ref());
        placeholders.retain(|n| !n.starts_with("user."));
        let parameters = match &config.parameters {
            Some(schema) => match Parameters::declared(schema, &placeholders) {
                Ok(p) => Some(p),
                Err(e) => {
                    problems.push(("/parameters".to_owned(), e));
                    None
                }
            },
            None => Some(Parameters::from_placeholders(&placeholders)),
        };
        match (url, parameters) {
            (Some(url), Some(parameters)) if problems.is_empty() => Ok(Box::new(HttpTool {
                description: config.description,
                method: config.method.method(),
                path_prefix: path_prefix(&url),
                parsed_url: url
                    .is_literal()
                    .then(|| url.render(&Args::new(), true).ok())
                    .flatten()
                    .and_then(|text| url::Url::parse(&text).ok()),
                url,
                headers,
                query,
                body,
                timeout: config.timeout.map(|t| t.0),
                auth_provider: config.auth_provider,
                scopes: config.scopes,
                parameters,
            })),
            _ => Err(problems),
        }
    }
}

impl HttpTool {
    /// The URL with `args` filled in, checked: no `.`/`..` segment, still
    /// under the written path.
    fn filled_url(&self, args: &Args) -> Result<url::Url, ToolError> {
        let rendered = self.url.render(args, true)?;
        let first_arg = || {
            let dots = self.url.args().find(|n| {
                args.get(*n)
                    .is_some_and(|v| super::value_text(v).chars().all(|c| c == '.'))
            });
            dots.or_else(|| self.url.args().next())
                .unwrap_or("url")
                .to_owned()
        };
        if super::has_dot_segment(&rendered) {
            return Err(ToolError::Invalid {
                name: first_arg(),
                reason: "would make a `.` or `..` path segment (the request would leave the tool's path)".to_owned(),
            });
        }
        let url = url::Url::parse(&rendered).map_err(|e| ToolError::Invalid {
            name: first_arg(),
            reason: format!("makes the URL invalid ({e})"),
        })?;
        if !url.path().starts_with(&self.path_prefix) {
            return Err(ToolError::Invalid {
                name: first_arg(),
                reason: "would move the request out of the tool's path".to_owned(),
            });
        }
        Ok(url)
    }
}

impl Tool for HttpTool {
    fn auth_provider(&self) -> Option<&str> {
        self.auth_provider.as_deref()
    }

    fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    fn scopes(&self) -> &[String] {
        &self.scopes
    }

    fn parameters(&self) -> &Parameters {
        &self.parameters
    }

    fn arguments(&self) -> Vec<String> {
        placeholder_names(
            Some(&self.url),
            &self.headers,
            &self.query,
            self.body.as_ref(),
        )
    }

    fn prepare(&self, args: &Args) -> Result<PreparedRequest, ToolError> {
        let expected = self.arguments();
        if let Some(unknown) = args.keys().find(|k| !expected.contains(k)) {
            return Err(ToolError::Unknown {
                name: unknown.clone(),
                expected,
            });
        }
        let mut url = match &self.parsed_url {
            Some(url) => url.clone(),
            None => self.filled_url(args)?,
        };
        if !self.query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in &self.query {
                pairs.append_pair(name, &value.render(args, false)?);
            }
        }
        let mut headers = HeaderMap::with_capacity(self.headers.len() + 2);
        for (name, template) in &self.headers {
            let value = template.render(args, false)?;
            let value = HeaderValue::from_str(&value).map_err(|_| ToolError::Invalid {
                name: template.args().next().unwrap_or_default().to_owned(),
                reason: format!("cannot be sent in header `{name}` (control characters)"),
            })?;
            headers.insert(name.clone(), value);
        }
        let body = match &self.body {
            Some(body) => {
                let json = body.render(args)?;
                if !headers.contains_key(CONTENT_TYPE) {
                    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                Some(serde_json::to_vec(&json).unwrap_or_default())
            }
            None => None,
        };
        Ok(PreparedRequest {
            method: self.method.clone(),
            url,
            headers,
            body,
            timeout: self.timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(config: serde_json::Value) -> Result<Box<dyn Tool>, Vec<ConfigProblem>> {
        HttpToolType.build("t", &config, &Outbound::default())
    }

    #[test]
    fn prepares_requests_from_arguments() {
        let tool = build(serde_json::json!({
            "method": "POST",
            "url": "https://api.example.com/repos/{owner}/issues",
            "headers": {"X-Trace": "{trace}"},
            "query": {"per_page": "{n}"},
            "body": {"title": "{title}", "labels": ["bug"]}
        }))
        .expect("valid");
        assert_eq!(tool.arguments(), ["n", "owner", "title", "trace"]);
        let args = Args::from([
            ("owner".into(), "me/you".into()),
            ("trace".into(), "abc".into()),
            ("n".into(), "5".into()),
            ("title".into(), "a \"quote\"".into()),
        ]);
        let r = tool.prepare(&args).expect("prepared");
        assert_eq!(
            r.url.as_str(),
            "https://api.example.com/repos/me%2Fyou/issues?per_page=5"
        );
        assert_eq!(r.headers["x-trace"], "abc");
        assert_eq!(r.headers[CONTENT_TYPE], "application/json");
        let body: serde_json::Value =
            serde_json::from_slice(r.body.as_deref().expect("body")).expect("json");
        assert_eq!(
            body,
            serde_json::json!({"title": "a \"quote\"", "labels": ["bug"]})
        );
    }

    #[test]
    fn argument_errors_name_the_argument() {
        let tool =
            build(serde_json::json!({"url": "https://x.test/{id}", "headers": {"X-A": "{a}"}}))
                .expect("valid");
        let missing = tool
            .prepare(&Args::from([("id".into(), "1".into())]))
            .expect_err("missing");
        assert_eq!(missing.to_string(), "missing argument `a`");
        let unknown = tool
            .prepare(&Args::from([
                ("id".into(), "1".into()),
                ("a".into(), "2".into()),
                ("x".into(), "3".into()),
            ]))
            .expect_err("unknown");
        assert_eq!(
            unknown.to_string(),
            "unknown argument `x`; this tool takes a, id"
        );
        let crlf = tool
            .prepare(&Args::from([
                ("id".into(), "1".into()),
                ("a".into(), "v\r\nEvil: 1".into()),
            ]))
            .expect_err("crlf");
        assert_eq!(
            crlf.to_string(),
            "argument `a` cannot be sent in header `x-a` (control characters)"
        );
    }

    #[test]
    fn placeholders_never_leave_the_path() {
        let tool =
            build(serde_json::json!({"url": "http://127.0.0.1:1/api/echo/{id}{suffix}?q={q}"}))
                .expect("valid");
        let call = |id: &str, suffix: &str| {
            tool.prepare(&Args::from([
                ("id".into(), id.into()),
                ("suffix".into(), suffix.into()),
                ("q".into(), "../..".into()),
            ]))
        };
        for (id, suffix) in [("..", ""), (".", ""), (".", "."), ("", ".."), ("", ".")] {
            let err = call(id, suffix).expect_err("dot segment");
            assert!(
                err.to_string().contains("`.` or `..` path segment"),
                "{err}"
            );
        }
        for (id, suffix) in [
            ("../..", ""),
            ("%2e%2e", ""),
            ("..\\..", ""),
            ("a/../../b", "."),
        ] {
            let r = call(id, suffix).expect("encoded, stays in the path");
            assert!(r.url.path().starts_with("/api/echo/"), "{}", r.url);
        }
        assert!(
            build(serde_json::json!({"url": "http://127.0.0.1:1/api/../{x}"}))
                .expect_err("literal dots")[0]
                .1
                .contains("path segment")
        );
    }

    #[test]
    fn urls_are_checked() {
        let problems = |url: &str| build(serde_json::json!({"url": url})).expect_err("invalid");
        assert!(problems("not a url")[0]
            .1
            .starts_with("is not a valid absolute URL"));
        assert!(problems("ftp://x.test/")[0]
            .1
            .contains("only http and https"));
        assert!(problems("https://{host}/x")[0]
            .1
            .contains("placeholder in the scheme, host or port"));
        assert!(problems("http://169.254.169.254/latest/meta-data/")[0]
            .1
            .contains("blocked by the egress policy"));
        assert!(build(serde_json::json!({"url": "http://127.0.0.1:8080/{x}"})).is_ok());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        /// Whatever the arguments, a prepared URL keeps the tool's scheme,
        /// host, port and path prefix, and has no dot segment; or the call
        /// is refused.
        #[test]
        fn a_filled_url_never_leaves_its_prefix(
            a in "([./\\\\%?#@:a-zA-Z0-9]|%2[eE]|\\.\\.){0,12}",
            b in "([./\\\\%?#@:a-z]|%2[eE]){0,6}",
        ) {
            let tool = build(serde_json::json!({"url": "https://api.example.com:8443/v1/items/{a}{b}/x?q={b}"}))
                .expect("valid");
            match tool.prepare(&Args::from([("a".into(), a.into()), ("b".into(), b.into())])) {
                Ok(r) => {
                    proptest::prop_assert_eq!(r.url.host_str(), Some("api.example.com"));
                    proptest::prop_assert_eq!(r.url.port(), Some(8443));
                    proptest::prop_assert!(r.url.path().starts_with("/v1/items/"), "{}", r.url);
                    proptest::prop_assert!(r.url.path().ends_with("/x"), "{}", r.url);
                    proptest::prop_assert!(!super::super::has_dot_segment(r.url.as_str()));
                }
                Err(e) => proptest::prop_assert!(matches!(e, ToolError::Invalid { .. }), "{}", e),
            }
        }
    }
}
