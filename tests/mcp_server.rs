//! `serve` as an MCP server at `/mcp` (Streamable HTTP, spoken here as raw
//! JSON-RPC over HTTP, as any client sends it): the protected-resource
//! answers, audience and origin checks, `tools/list` with each tool's
//! parameters, `tools/call` through the caller's credentials, and the
//! connect link as a URL elicitation or a tool error — also through the
//! official SDK's client (`rmcp`), end to end.

use indoc::formatdoc;

use crate::server::{claims, client, follow_to_callback, hs, start};
use crate::support::{echo, oauth_server};

const ISSUER: &str = "https://idp.test";

/// A workflow with JWT callers, an API-key tool with declared parameters
/// on `echo`, and an OAuth tool on `auth`.
fn workflow(echo: &echo::EchoServer, auth: &oauth_server::AuthServer) -> String {
    formatdoc!(
        r#"
            general:
              server:
                bind: 127.0.0.1:0
                connect:
                  verify: none
                mcp:
                  scopes: [tools]
              store:
                url: sqlite://{{dir}}/tokens.db
              inbound_auth:
                type: jwt
                algorithms: [HS256]
                secret: "{secret}"
                issuer: {ISSUER}
            authentication:
              key:
                _type: api_key
                api_key: k-1
                header: X-API-Key
              gh:
                _type: oauth2_auth_code_flow
                client_id: authhost-test
                client_secret: test-secret
                issuer: {auth}
                redirect_uri: http://127.0.0.1:{{port}}/auth/callback
                scopes: [repo]
            tools:
              search:
                _type: http
                description: Search the items
                url: {echo}/items
                query:
                  q: "{{q}}"
                method: POST
                body:
                  limit: "{{limit}}"
                auth_provider: key
                parameters:
                  type: object
                  properties:
                    q: {{type: string, description: What to look for}}
                    limit: {{type: integer, minimum: 1, default: 10}}
                  required: [q]
              me:
                _type: http
                url: {auth}/api/me
                auth_provider: gh
        "#,
        secret = crate::server::HS_SECRET,
        echo = echo.base,
        auth = auth.base,
    )
}

/// [`workflow`] served, with its echo API and authorization server, and
/// the resource URL of its `/mcp`.
pub(crate) async fn serve() -> (
    echo::EchoServer,
    oauth_server::AuthServer,
    crate::server::Running,
    String,
) {
    let api = echo::start();
    let auth = oauth_server::start();
    let server = start(&workflow(&api, &auth), None).await;
    let resource = format!("{}/mcp", server.base);
    (api, auth, server, resource)
}

/// A token for `user` with `aud` and `scope`.
pub(crate) fn token(user: &str, aud: &str, scope: &str) -> String {
    let mut c = claims(user, 300, ISSUER, aud);
    c["scope"] = scope.into();
    hs(&c)
}

/// The user opens the connect `link` in a browser and authorizes at the
/// test authorization server; the callback succeeds.
pub(crate) async fn authorize_at(link: &str) {
    let http = client();
    let callback = follow_to_callback(&http, link).await;
    assert_eq!(
        http.get(&callback).send().await.expect("callback").status(),
        200
    );
}

/// One MCP session over raw HTTP.
struct Session {
    http: reqwest::Client,
    url: String,
    token: String,
    id: String,
    next: u64,
}

/// The JSON-RPC message with `id` in a response body: a JSON object, or an
/// SSE stream of `data:` lines.
fn message_with_id(body: &str, id: u64) -> serde_json::Value {
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(body) {
        return value;
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<serde_json::Value>(d.trim()).ok())
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no answer {id} in {body}"))
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    session: Option<&str>,
    message: serde_json::Value,
) -> reqwest::Response {
    let mut request = http
        .post(url)
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .header("content-type", "application/json")
        .body(message.to_string());
    if let Some(session) = session {
        request = request.header("mcp-session-id", session);
    }
    request.send().await.expect("post /mcp")
}

impl Session {
    /// `initialize` (declaring URL elicitation when `elicitation`), then
    /// `notifications/initialized`.
    async fn open(base: &str, token: &str, elicitation: bool) -> Self {
        let http = client();
        let url = format!("{base}/mcp");
        let capabilities = if elicitation {
            serde_json::json!({"elicitation": {"url": {}}})
        } else {
            serde_json::json!({})
        };
        let response = post(
            &http,
            &url,
            token,
            None,
            serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": capabilities,
                "clientInfo": {"name": "e2e", "version": "1"}
            }}),
        )
        .await;
        assert_eq!(response.status(), 200);
        let id = response.headers()["mcp-session-id"]
            .to_str()
            .expect("session id")
            .to_owned();
        let init = message_with_id(&response.text().await.expect("body"), 0);
        assert_eq!(init["result"]["serverInfo"]["name"], "authhost", "{init}");
        let ack = post(
            &http,
            &url,
            token,
            Some(&id),
            serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        )
        .await;
        assert_eq!(ack.status(), 202);
        Self {
            http,
            url,
            token: token.to_owned(),
            id,
            next: 1,
        }
    }

    async fn request(&mut self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let id = self.next;
        self.next += 1;
        let response = post(
            &self.http,
            &self.url,
            &self.token,
            Some(&self.id),
            serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}),
        )
        .await;
        assert_eq!(response.status(), 200);
        message_with_id(&response.text().await.expect("body"), id)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mcp_clients_are_told_where_to_authorize_and_refused_without_the_right_token() {
    let (_api, _auth, server, resource) = serve().await;
    let http = client();

    let bare = http
        .post(&resource)
        .header("content-type", "application/json")
        .body(serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(bare.status(), 401);
    let challenge = bare.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", server.base);
    assert!(
        challenge.starts_with(&format!("Bearer resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"tools\""), "{challenge}");
    let metadata: serde_json::Value = serde_json::from_str(
        &http
            .get(&metadata_url)
            .send()
            .await
            .expect("metadata")
            .text()
            .await
            .expect("body"),
    )
    .expect("json");
    assert_eq!(metadata["resource"], resource.as_str());
    assert_eq!(
        metadata["authorization_servers"],
        serde_json::json!([ISSUER])
    );
    assert_eq!(metadata["scopes_supported"], serde_json::json!(["tools"]));

    // A valid token issued for another resource: refused (RFC 8707).
    let other = post(
        &http,
        &resource,
        &token("alice", "https://other.example/mcp", "tools"),
        None,
        serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}),
    )
    .await;
    assert_eq!(other.status(), 401);
    assert!(other.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .contains("error=\"invalid_token\""));

    // The right resource, without the scope: 403 insufficient_scope.
    let narrow = post(
        &http,
        &resource,
        &token("alice", &resource, "read"),
        None,
        serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "ping"}),
    )
    .await;
    assert_eq!(narrow.status(), 403);
    let challenge = narrow.headers()["www-authenticate"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        challenge.contains("error=\"insufficient_scope\"") && challenge.contains("scope=\"tools\""),
        "{challenge}"
    );

    // A browser page from another origin: refused (DNS rebinding).
    let foreign = http
        .post(&resource)
        .bearer_auth(token("alice", &resource, "tools"))
        .header("origin", "http://evil.example")
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "application/json")
        .body(serde_json::json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}}).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(foreign.status(), 403);
}

/// A `tools/call` in a live session is answered by authhost's fast path
/// (`application/json`, no event stream), as rmcp would answer it; a
/// session another user opened, closed, or never opened is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_tools_call_in_a_live_session_is_answered_as_json_and_dead_sessions_are_refused() {
    let (api, _auth, server, resource) = serve().await;
    let alice = token("alice", &resource, "tools");
    let mcp = Session::open(&server.base, &alice, false).await;
    let call = |id: u64| {
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "search", "arguments": {"q": "shoes"}}})
    };

    let answered = post(&mcp.http, &mcp.url, &alice, Some(&mcp.id), call(1)).await;
    assert_eq!(answered.status(), 200);
    assert_eq!(answered.headers()["content-type"], "application/json");
    let body: serde_json::Value =
        serde_json::from_str(&answered.text().await.expect("body")).expect("json");
    assert_eq!(body["id"], 1);
    assert_eq!(body["result"]["isError"], false, "{body}");
    assert_eq!(
        body["result"]["structuredContent"]["query"], "q=shoes",
        "{body}"
    );
    assert_eq!(api.hits().len(), 1);

    // An unknown tool: the same JSON-RPC error rmcp's handler gives.
    let unknown = post(
        &mcp.http,
        &mcp.url,
        &alice,
        Some(&mcp.id),
        serde_json::json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "nope"}}),
    )
    .await;
    let body: serde_json::Value =
        serde_json::from_str(&unknown.text().await.expect("body")).expect("json");
    assert_eq!(body["error"]["code"], -32602, "{body}");

    let bob = token("bob", &resource, "tools");
    let stolen = post(&mcp.http, &mcp.url, &bob, Some(&mcp.id), call(3)).await;
    assert_eq!(stolen.status(), 404);

    let never = post(&mcp.http, &mcp.url, &alice, Some("not-a-session"), call(4)).await;
    assert_eq!(never.status(), 404);

    let closed = mcp
        .http
        .delete(&mcp.url)
        .bearer_auth(&alice)
        .header("mcp-session-id", &mcp.id)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .expect("delete");
    assert!(closed.status().is_success(), "{}", closed.status());
    let after = post(&mcp.http, &mcp.url, &alice, Some(&mcp.id), call(5)).await;
    assert_eq!(after.status(), 404);
    assert_eq!(
        api.hits().len(),
        1,
        "no call after the session ended reached the API"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_are_listed_with_their_parameters_and_called_with_the_users_credentials() {
    let (api, _auth, server, resource) = serve().await;
    let mut mcp = Session::open(&server.base, &token("alice", &resource, "tools"), false).await;

    let listed = mcp.request("tools/list", serde_json::json!({})).await;
    let tools = listed["result"]["tools"].as_array().expect("tools");
    let search = tools
        .iter()
        .find(|t| t["name"] == "search")
        .expect("search listed");
    assert_eq!(search["description"], "Search the items");
    assert_eq!(
        search["inputSchema"]["properties"]["limit"]["type"],
        "integer"
    );
    assert_eq!(search["inputSchema"]["required"], serde_json::json!(["q"]));
    let me = tools.iter().find(|t| t["name"] == "me").expect("me listed");
    assert_eq!(me["inputSchema"]["type"], "object");

    let called = mcp
        .request(
            "tools/call",
            serde_json::json!({"name": "search", "arguments": {"q": "red shoes"}}),
        )
        .await;
    let result = &called["result"];
    assert_eq!(result["isError"], false, "{called}");
    // The default (10) went into the body as a number, the key as a header.
    assert_eq!(
        result["structuredContent"]["body"], "{\"limit\":10}",
        "{called}"
    );
    assert_eq!(result["structuredContent"]["query"], "q=red+shoes");
    assert_eq!(result["structuredContent"]["headers"]["x-api-key"], "k-1");
    assert!(result["content"][0]["text"]
        .as_str()
        .expect("text")
        .contains("/items"));

    // Arguments that break the parameters: a tool error that says why.
    let bad = mcp
        .request(
            "tools/call",
            serde_json::json!({"name": "search", "arguments": {"q": "x", "limit": 0}}),
        )
        .await;
    assert_eq!(bad["result"]["isError"], true, "{bad}");
    let text = bad["result"]["content"][0]["text"].as_str().expect("text");
    assert!(text.contains("`limit`"), "{text}");
    assert_eq!(api.hits().len(), 1, "the bad call never reached the API");

    // Another user's token with alice's session id: as if it did not exist.
    let bob = post(
        &mcp.http,
        &mcp.url,
        &token("bob", &resource, "tools"),
        Some(&mcp.id),
        serde_json::json!({"jsonrpc": "2.0", "id": 99, "method": "tools/list"}),
    )
    .await;
    assert_eq!(bob.status(), 404);

    let unknown = mcp
        .request(
            "tools/call",
            serde_json::json!({"name": "nope", "arguments": {}}),
        )
        .await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_that_needs_a_connected_account_asks_through_url_elicitation() {
    let (_api, _auth, server, resource) = serve().await;

    // A client without URL elicitation gets a tool error holding the link.
    let mut plain = Session::open(&server.base, &token("bob", &resource, "tools"), false).await;
    let answer = plain
        .request(
            "tools/call",
            serde_json::json!({"name": "me", "arguments": {}}),
        )
        .await;
    assert_eq!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .expect("text");
    assert!(
        text.contains(&format!("{}/v1/auth/flows/", server.base)),
        "{text}"
    );

    // One that supports it gets -32042 with the connect link.
    let mut mcp = Session::open(&server.base, &token("alice", &resource, "tools"), true).await;
    let answer = mcp
        .request(
            "tools/call",
            serde_json::json!({"name": "me", "arguments": {}}),
        )
        .await;
    assert_eq!(answer["error"]["code"], -32042, "{answer}");
    let elicitation = &answer["error"]["data"]["elicitations"][0];
    assert_eq!(elicitation["mode"], "url");
    let link = elicitation["url"].as_str().expect("url");

    // The user opens it and authorizes; the retried call succeeds with
    // alice's token.
    authorize_at(link).await;
    let retried = mcp
        .request(
            "tools/call",
            serde_json::json!({"name": "me", "arguments": {}}),
        )
        .await;
    assert_eq!(retried["result"]["isError"], false, "{retried}");
    assert_eq!(
        retried["result"]["structuredContent"]["user"], "test-user",
        "{retried}"
    );
}

/// The official MCP conformance suite's server scenarios against `serve`,
/// and its client scenarios with `authhost mcp` as the client
/// (tests/mcp-conformance.sh: Node 22 and the suite from the npm registry).
/// Skipped only off CI, when npm is missing.
#[test]
fn the_official_conformance_suite_passes_its_server_and_client_scenarios() {
    let npm = std::process::Command::new("npm").arg("--version").output();
    if npm.is_err() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must run the MCP conformance suite, and npm is missing"
        );
        eprintln!("skipped: npm is not installed");
        return;
    }
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new("bash")
        .arg(root.join("tests/mcp-conformance.sh"))
        .arg(env!("CARGO_BIN_EXE_authhost"))
        .env(
            "MCP_CONFORMANCE_DIR",
            crate::support::target_dir()
                .parent()
                .expect("target")
                .join("mcp-conformance"),
        )
        .env("XDG_DATA_HOME", data.path())
        .output()
        .expect("run tests/mcp-conformance.sh");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert_eq!(report.matches("pass  ").count(), 26, "{report}");
    assert!(report.contains("pass  client tools_call"), "{report}");
    assert!(
        report.contains("pass  client auth/scope-step-up"),
        "{report}"
    );
}

/// The official SDK's client (`rmcp`) against `/mcp` with a JWT: the call
/// that needs the user's authorization fails with a URL elicitation
/// (-32042), the user completes the flow at the link against the test
/// authorization server, and the retried call succeeds with their token.
#[tokio::test(flavor = "multi_thread")]
async fn the_rmcp_client_is_sent_to_authorize_and_its_retried_call_succeeds() {
    use rmcp::{
        model::{
            CallToolRequestParams, ClientCapabilities, ClientConfig, ElicitationCapability,
            Implementation, UrlElicitationCapability,
        },
        transport::{
            streamable_http_client::StreamableHttpClientTransportConfig,
            StreamableHttpClientTransport,
        },
        ServiceError, ServiceExt,
    };

    let (_api, _auth, server, resource) = serve().await;
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(resource.as_str())
            .auth_header(token("alice", &resource, "tools")),
    );
    let mut capabilities = ClientCapabilities::default();
    capabilities.elicitation =
        Some(ElicitationCapability::new().with_url(UrlElicitationCapability::new()));
    let mcp = ClientConfig::new(capabilities, Implementation::new("rmcp-e2e", "1"))
        .serve(transport)
        .await
        .expect("initialize");
    let tools = mcp.list_all_tools().await.expect("tools/list");
    assert!(tools.iter().any(|t| t.name == "me"), "{tools:?}");

    let needs = mcp
        .call_tool(CallToolRequestParams::new("me"))
        .await
        .expect_err("alice has not authorized yet");
    let ServiceError::McpError(error) = needs else {
        panic!("expected a JSON-RPC error, got {needs:?}");
    };
    assert_eq!(error.code.0, -32042, "{error:?}");
    let data = error.data.expect("elicitation data");
    let link = data["elicitations"][0]["url"].as_str().expect("url");
    assert!(link.starts_with(&server.base), "{link}");

    authorize_at(link).await;

    let retried = mcp
        .call_tool(CallToolRequestParams::new("me"))
        .await
        .expect("tools/call after authorizing");
    assert_eq!(retried.is_error, Some(false), "{retried:?}");
    assert_eq!(
        retried.structured_content.expect("structured")["user"],
        "test-user"
    );
    mcp.cancel().await.expect("close the session");
}
