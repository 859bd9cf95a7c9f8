//! `authhost mcp tools|call URL`: authhost as an MCP client of a remote
//! server — here `serve`'s own `/mcp`, a real Streamable HTTP server with
//! JWT callers — listing tools, calling one with typed arguments, and
//! reporting the server's authorization challenge.

use indoc::formatdoc;

use crate::mcp_server::{serve, token};
use crate::server::start;
use crate::support::{authhost, echo, oauth_server, run, Run};

/// Runs `authhost mcp ARGS` off the runtime (the server lives on it), with
/// `env` set.
async fn mcp(args: Vec<String>, env: Vec<(&'static str, String)>) -> Run {
    tokio::task::spawn_blocking(move || {
        let mut cmd = authhost();
        cmd.envs(env);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(cmd, &args)
    })
    .await
    .expect("authhost mcp")
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// `authhost mcp call RESOURCE TOOL --bearer-env MCP_TOKEN --arg …` with
/// `token` in `MCP_TOKEN`.
async fn call(resource: &str, tool: &str, token: &str, tool_args: &[&str]) -> Run {
    let mut all = args(&["mcp", "call", resource, tool, "--bearer-env", "MCP_TOKEN"]);
    for arg in tool_args {
        all.extend(["--arg".to_owned(), (*arg).to_owned()]);
    }
    mcp(all, vec![("MCP_TOKEN", token.to_owned())]).await
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_and_calls_a_remote_servers_tools_with_a_bearer_token() {
    let (api, _auth, _server, resource) = serve().await;
    let bearer = token("alice", &resource, "tools");
    let env = vec![("MCP_TOKEN", bearer.clone())];

    let listed = mcp(
        args(&["mcp", "tools", &resource, "--bearer-env", "MCP_TOKEN"]),
        env.clone(),
    )
    .await;
    assert_eq!(listed.code, 0, "{}", listed.stderr);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l == "search\tSearch the items"),
        "{}",
        listed.stdout
    );
    let json = mcp(
        args(&[
            "mcp",
            "tools",
            &resource,
            "--bearer-env",
            "MCP_TOKEN",
            "--format",
            "json",
        ]),
        env.clone(),
    )
    .await;
    let tools: serde_json::Value = serde_json::from_str(&json.stdout).expect("json");
    let search = tools
        .as_array()
        .expect("array")
        .iter()
        .find(|t| t["name"] == "search")
        .expect("search");
    assert_eq!(
        search["inputSchema"]["properties"]["limit"]["type"],
        "integer"
    );

    // `limit` is typed by the remote schema: it arrives as the number 3.
    let called = call(&resource, "search", &bearer, &["q=red shoes", "limit=3"]).await;
    assert_eq!(called.code, 0, "{}", called.all());
    let result: serde_json::Value = serde_json::from_str(&called.stdout).expect("json");
    assert_eq!(result["body"], "{\"limit\":3}", "{result}");
    assert_eq!(result["query"], "q=red+shoes");
    assert_eq!(api.hits().len(), 1);

    // A tool error (the schema refuses limit 0) exits 1 with its text.
    let refused = call(&resource, "search", &bearer, &["q=x", "limit=0"]).await;
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(refused.stdout.contains("`limit`"), "{}", refused.stdout);
    assert_eq!(
        api.hits().len(),
        1,
        "the refused call never reached the API"
    );

    // A tool the server does not have: named, with the closest one.
    let unknown = call(&resource, "serch", &bearer, &[]).await;
    assert_ne!(unknown.code, 0);
    assert!(
        unknown
            .stderr
            .contains("no tool `serch`; did you mean `search`?"),
        "{}",
        unknown.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn reports_the_servers_challenge_and_never_prints_the_token() {
    let (_api, _auth, server, resource) = serve().await;
    let metadata = format!("{}/.well-known/oauth-protected-resource/mcp", server.base);

    // Without a token authhost authorizes itself: the server's metadata
    // names https://idp.test, which does not answer here.
    let bare = mcp(args(&["mcp", "tools", &resource]), vec![]).await;
    assert_ne!(bare.code, 0);
    assert!(bare.stderr.contains("answered 401"), "{}", bare.stderr);
    assert!(bare.stderr.contains("scope `tools`"), "{}", bare.stderr);
    assert!(bare.stderr.contains(&metadata), "{}", bare.stderr);
    assert!(
        bare.stderr
            .contains("authorizing failed: no authorization server metadata for https://idp.test"),
        "{}",
        bare.stderr
    );

    let narrow = token("alice", &resource, "read");
    let refused = mcp(
        args(&["mcp", "tools", &resource, "--bearer-env", "MCP_TOKEN"]),
        vec![("MCP_TOKEN", narrow.clone())],
    )
    .await;
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("answered 403 (insufficient_scope)"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains(&narrow) && !refused.stdout.contains(&narrow));

    let unset = mcp(
        args(&[
            "mcp",
            "tools",
            &resource,
            "--bearer-env",
            "NOT_SET_ANYWHERE",
        ]),
        vec![],
    )
    .await;
    assert!(
        unset.stderr.contains(
            "--bearer-env NOT_SET_ANYWHERE: the environment variable is not set or empty"
        ),
        "{}",
        unset.stderr
    );
    let scheme = mcp(args(&["mcp", "tools", "file:///etc/passwd"]), vec![]).await;
    assert!(
        scheme.stderr.contains("only http and https"),
        "{}",
        scheme.stderr
    );
}

/// `serve` whose `/mcp` takes the JWTs the test authorization server
/// issues (RS256, its JWKS, audience its resource URL), with an API-key
/// tool on `echo`; and the resource URL.
async fn serve_for(
    auth: &oauth_server::AuthServer,
    api: &echo::EchoServer,
) -> (crate::server::Running, String) {
    auth.set(|inner| {
        inner.jwt_access_tokens = true;
        inner.send_iss = true;
    });
    let yaml = formatdoc!(
        r#"
            general:
              server:
                bind: 127.0.0.1:0
                mcp:
                  scopes: [tools]
              inbound_auth:
                type: jwt
                algorithms: [RS256]
                jwks_url: {auth}/.well-known/jwks.json
                issuer: {auth}
            authentication:
              key:
                _type: api_key
                api_key: k-1
                header: X-API-Key
            tools:
              search:
                _type: http
                url: {echo}/items
                query:
                  q: "{{q}}"
                auth_provider: key
        "#,
        auth = auth.base,
        echo = api.base,
    );
    let server = start(&yaml, None).await;
    let resource = format!("{}/mcp", server.base);
    (server, resource)
}

/// A workflow holding only a token store, in `dir`.
fn store_workflow(dir: &std::path::Path) -> String {
    let path = dir.join("client.yaml");
    std::fs::write(
        &path,
        format!(
            "general:\n  store:\n    url: sqlite://{}/client-tokens.db\n    key_file: {}/client.key\n",
            dir.display(),
            dir.display()
        ),
    )
    .expect("write");
    path.display().to_string()
}

/// The "browser": follows the authorization URL's redirects to authhost's
/// loopback redirect URI.
const CURL_BROWSER: &str = "curl -fsS -o /dev/null -L";

#[tokio::test(flavor = "multi_thread")]
async fn authorizes_in_the_browser_then_reuses_the_saved_token() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_server, resource) = serve_for(&auth, &api).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = store_workflow(dir.path());
    let command = args(&[
        "mcp",
        "call",
        &resource,
        "search",
        "--arg",
        "q=books",
        "--client-id",
        "public-app",
        "--config",
        &config,
        "--user",
        "alice",
    ]);

    let first = mcp(command.clone(), vec![("BROWSER", CURL_BROWSER.to_owned())]).await;
    assert_eq!(first.code, 0, "{}", first.all());
    assert!(first.stdout.contains("q=books"), "{}", first.stdout);
    assert!(
        first.stderr.contains("Open this URL to authorize authhost"),
        "{}",
        first.stderr
    );
    assert_eq!(auth.calls("authorization_code"), 1);
    // RFC 8707: the same resource, the server's, in both requests.
    let resources = auth.get(|inner| inner.resources.clone());
    assert_eq!(resources, [resource.clone(), resource.clone()]);
    for token in auth.get(oauth_server::Inner::issued_tokens) {
        assert!(!first.all().contains(&token), "a token was printed");
    }

    // The next run uses the saved token: no browser (it would fail), no
    // new authorization.
    let second = mcp(command, vec![("BROWSER", "false".to_owned())]).await;
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(
        !second.stderr.contains("Open this URL"),
        "{}",
        second.stderr
    );
    assert_eq!(auth.calls("authorization_code"), 1);
    assert_eq!(api.hits().len(), 2);

    // The saved grant is listed, and revoked, like any other.
    let provider = format!("mcp:{resource}");
    let listed = mcp(args(&["tokens", "list", "--config", &config]), vec![]).await;
    assert_eq!(listed.code, 0, "{}", listed.all());
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.contains(&provider) && l.contains("alice")),
        "{}",
        listed.stdout
    );
    let revoked = mcp(
        args(&[
            "tokens", "revoke", &provider, "--user", "alice", "--config", &config,
        ]),
        vec![],
    )
    .await;
    assert_eq!(revoked.code, 0, "{}", revoked.all());
    assert!(
        revoked
            .stdout
            .contains("deleted the tokens of user `alice`"),
        "{}",
        revoked.stdout
    );
    let after = mcp(args(&["tokens", "list", "--config", &config]), vec![]).await;
    assert!(!after.stdout.contains(&provider), "{}", after.stdout);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_or_a_mixed_up_issuer_ends_the_authorization() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_server, resource) = serve_for(&auth, &api).await;
    let command = args(&[
        "mcp",
        "tools",
        &resource,
        "--client-id",
        "public-app",
        "--timeout",
        "20s",
    ]);
    let browser = vec![("BROWSER", CURL_BROWSER.to_owned())];

    auth.set(|inner| inner.wrong_iss = Some("https://evil.example".to_owned()));
    let mixed = mcp(command.clone(), browser.clone()).await;
    assert_ne!(mixed.code, 0);
    assert!(
        mixed
            .stderr
            .contains("names the issuer `https://evil.example`"),
        "{}",
        mixed.stderr
    );
    assert_eq!(
        auth.calls("authorization_code"),
        0,
        "the code was never exchanged"
    );

    auth.set(|inner| {
        inner.wrong_iss = None;
        inner.deny = true;
    });
    let denied = mcp(command, browser).await;
    assert_ne!(denied.code, 0);
    assert!(
        denied
            .stderr
            .contains("the authorization server refused: access_denied"),
        "{}",
        denied.stderr
    );
    assert!(api.hits().is_empty());
}

/// A workflow that imports `serve`'s `/mcp` tools as `upstream_…` (only
/// `search`), with a bearer token for alice, and serves them again.
fn importing_workflow(resource: &str, bearer: &str) -> String {
    formatdoc!(
        r#"
            general:
              server:
                bind: 127.0.0.1:0
              inbound_auth:
                type: none
            authentication:
              remote:
                _type: bearer_token
                token: "{bearer}"
            tools:
              upstream:
                _type: mcp
                description: The items service's MCP server
                url: {resource}
                auth_provider: remote
                tools: [search]
        "#
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_workflow_entry_imports_a_remote_servers_tools() {
    let (api, _auth, _server, resource) = serve().await;
    let bearer = token("alice", &resource, "tools");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = crate::support::write_workflow(dir.path(), importing_workflow(&resource, &bearer));
    let config = path.display().to_string();

    // `authhost call` types the arguments by the remote schema (limit: integer).
    let called = mcp(
        args(&[
            "call",
            "upstream_search",
            "--config",
            &config,
            "--arg",
            "q=boots",
            "--arg",
            "limit=2",
            "--format",
            "json",
        ]),
        vec![],
    )
    .await;
    assert_eq!(called.code, 0, "{}", called.all());
    let response: serde_json::Value = serde_json::from_str(&called.stdout).expect("json");
    assert_eq!(response["status"], 200, "{response}");
    let structured = &response["body"]["structuredContent"];
    assert_eq!(structured["query"], "q=boots", "{response}");
    assert_eq!(structured["body"], "{\"limit\":2}", "{response}");
    assert_eq!(api.hits().len(), 1);
    assert!(!called.all().contains(&bearer), "the token was printed");

    // Left out by the allow-list, and the entry itself: neither is a tool.
    let hidden = mcp(args(&["call", "upstream_me", "--config", &config]), vec![]).await;
    assert_ne!(hidden.code, 0);
    assert!(
        hidden.stderr.contains("no tool named `upstream_me`"),
        "{}",
        hidden.stderr
    );
    let entry = mcp(args(&["call", "upstream", "--config", &config]), vec![]).await;
    assert_ne!(entry.code, 0);
    assert!(
        entry.stderr.contains("is a remote MCP server, not a tool"),
        "{}",
        entry.stderr
    );

    // Served again: REST invoke and authhost's own /mcp list and call it.
    let again = start(&importing_workflow(&resource, &bearer), None).await;
    let invoked = crate::server::client()
        .post(format!("{}/v1/tools/upstream_search/invoke", again.base))
        .header("content-type", "application/json")
        .body(r#"{"q": "hats"}"#)
        .send()
        .await
        .expect("invoke");
    assert_eq!(invoked.status(), 200);
    let invoked: serde_json::Value =
        serde_json::from_str(&invoked.text().await.expect("body")).expect("json");
    assert_eq!(
        invoked["body"]["structuredContent"]["query"], "q=hats",
        "{invoked}"
    );
    let listed = mcp(
        args(&["mcp", "tools", &format!("{}/mcp", again.base)]),
        vec![],
    )
    .await;
    assert_eq!(listed.code, 0, "{}", listed.all());
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l == "upstream_search\tSearch the items"),
        "{}",
        listed.stdout
    );
    assert!(!listed.stdout.contains("upstream_me"), "{}", listed.stdout);
    assert!(
        !listed.stdout.lines().any(|l| l.starts_with("upstream\t")),
        "{}",
        listed.stdout
    );
    let through = mcp(
        args(&[
            "mcp",
            "call",
            &format!("{}/mcp", again.base),
            "upstream_search",
            "--arg",
            "q=caps",
        ]),
        vec![],
    )
    .await;
    assert_eq!(through.code, 0, "{}", through.all());
    assert!(through.stdout.contains("q=caps"), "{}", through.stdout);
    assert_eq!(api.hits().len(), 3);
}

/// A gateway workflow (JWT callers, a token store, connect links without
/// browser verification) whose `items` entry imports the remote server at
/// `resource` with the provider `items` (`provider`: its YAML lines).
fn gateway_yaml(resource: &str, provider: &str) -> String {
    formatdoc!(
        r#"
            general:
              server:
                bind: 127.0.0.1:0
                connect:
                  verify: none
              store:
                url: sqlite://{{dir}}/tokens.db
              inbound_auth:
                type: jwt
                algorithms: [HS256]
                secret: "{secret}"
                issuer: https://idp.test
            authentication:
              items:
            {provider}
            tools:
              items:
                _type: mcp
                url: {resource}
                auth_provider: items
        "#,
        secret = crate::server::HS_SECRET,
    )
}

/// A gateway whose `items` entry imports the remote server at `resource`
/// with the provider `items` (`provider`, its YAML lines under the name);
/// alice's first call is answered with a connect link, she authorizes at
/// the test authorization server, and her next call goes through with her
/// own token, asked for the remote server's resource (RFC 8707).
async fn call_as_alice_after_connecting(
    auth: &oauth_server::AuthServer,
    api: &echo::EchoServer,
    resource: &str,
    provider: &str,
) {
    let gateway = start(&gateway_yaml(resource, provider), None).await;
    let http = crate::server::client();
    let invoke = || {
        http.post(format!("{}/v1/tools/items_search/invoke", gateway.base))
            .bearer_auth(token("alice", "unused", "tools"))
            .header("content-type", "application/json")
            .body(r#"{"q": "scarves"}"#)
            .send()
    };

    let first = invoke().await.expect("invoke");
    assert_eq!(first.status(), 401);
    let body: serde_json::Value =
        serde_json::from_str(&first.text().await.expect("body")).expect("json");
    assert_eq!(body["error"], "authorization_required", "{body}");
    crate::mcp_server::authorize_at(body["auth_url"].as_str().expect("auth_url")).await;
    assert_eq!(
        auth.get(|inner| inner.resources.clone()),
        [resource.to_owned(), resource.to_owned()]
    );

    let second = invoke().await.expect("invoke");
    assert_eq!(second.status(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&second.text().await.expect("body")).expect("json");
    assert_eq!(
        body["body"]["structuredContent"]["query"], "q=scarves",
        "{body}"
    );
    assert_eq!(api.hits().len(), 1);
}

/// `oauth2_auth_code_flow` with every endpoint and the resource written out.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_servers_tools_carry_each_users_own_oauth_token() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_remote, resource) = serve_for(&auth, &api).await;
    let provider = format!(
        "    _type: oauth2_auth_code_flow\n    client_id: authhost-test\n    client_secret: test-secret\n    issuer: {}\n    redirect_uri: http://127.0.0.1:{{port}}/auth/callback\n    scopes: [tools]\n    resource: {resource}",
        auth.base
    );
    call_as_alice_after_connecting(&auth, &api, &resource, &provider).await;
}

/// `mcp_oauth2` with the server's URL alone: its metadata names the
/// authorization server, and the scope is the one it lists.
#[tokio::test(flavor = "multi_thread")]
async fn mcp_oauth2_finds_the_authorization_server_from_the_servers_url() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_remote, resource) = serve_for(&auth, &api).await;
    let provider = format!(
        "    _type: mcp_oauth2\n    server_url: {resource}\n    client_id: authhost-test\n    client_secret: test-secret\n    redirect_uri: http://127.0.0.1:{{port}}/auth/callback"
    );
    call_as_alice_after_connecting(&auth, &api, &resource, &provider).await;
}

/// `mcp_oauth2` with a pre-registered client that authenticates with a
/// `private_key_jwt` assertion (RFC 7523) at the discovered token endpoint:
/// the test authorization server accepts the code exchange only with an
/// assertion signed by the client's key for that endpoint.
#[tokio::test(flavor = "multi_thread")]
async fn mcp_oauth2_authenticates_with_a_private_key_jwt() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_remote, resource) = serve_for(&auth, &api).await;
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures/keys/rsa-private.pem"),
    )
    .expect("key");
    let key: String = pem.lines().map(|l| format!("      {l}\n")).collect();
    let provider = format!(
        "    _type: mcp_oauth2\n    server_url: {resource}\n    client_id: {}\n    token_endpoint_auth_method: private_key_jwt\n    private_key_algorithm: RS256\n    private_key: |\n{key}    redirect_uri: http://127.0.0.1:{{port}}/auth/callback",
        oauth_server::JWT_CLIENT
    );
    call_as_alice_after_connecting(&auth, &api, &resource, &provider).await;
    assert_eq!(auth.calls("authorization_code"), 1);
}

/// `mcp_oauth2_client_credentials`: a machine-to-machine server gets one
/// token for authhost itself, from the token endpoint its metadata leads
/// to, asked for the server as the resource with the scope it lists; every
/// user's call carries it, and no user is asked to connect.
#[tokio::test(flavor = "multi_thread")]
async fn a_machine_to_machine_server_gets_one_client_credentials_token() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_remote, resource) = serve_for(&auth, &api).await;
    let provider = format!(
        "    _type: mcp_oauth2_client_credentials\n    server_url: {resource}\n    client_id: authhost-test\n    client_secret: test-secret"
    );
    let gateway = start(&gateway_yaml(&resource, &provider), None).await;
    let http = crate::server::client();
    for (user, query) in [("alice", "hats"), ("bob", "boots")] {
        let answer = http
            .post(format!("{}/v1/tools/items_search/invoke", gateway.base))
            .bearer_auth(token(user, "unused", "tools"))
            .header("content-type", "application/json")
            .body(format!(r#"{{"q": "{query}"}}"#))
            .send()
            .await
            .expect("invoke");
        let status = answer.status();
        let body: serde_json::Value =
            serde_json::from_str(&answer.text().await.expect("body")).expect("json");
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["body"]["structuredContent"]["query"],
            format!("q={query}"),
            "{body}"
        );
    }
    assert_eq!(auth.calls("client_credentials"), 1);
    assert_eq!(auth.calls("authorization_code"), 0);
    assert_eq!(auth.get(|inner| inner.resources.clone()), [resource]);
    assert_eq!(api.hits().len(), 2);
}

/// `serve` publishes its Client ID Metadata Document at the URL that is its
/// client id, naming its own callback; without `public_url` there is none.
#[tokio::test(flavor = "multi_thread")]
async fn serve_publishes_its_client_id_metadata_document() {
    let with = start(
        "general:\n  server:\n    bind: 127.0.0.1:0\n    public_url: http://127.0.0.1:{port}\n  inbound_auth:\n    type: none\n",
        None,
    )
    .await;
    let url = format!("{}/oauth/client-metadata.json", with.base);
    let http = crate::server::client();
    let answer = http.get(&url).send().await.expect("get");
    assert_eq!(answer.status(), 200);
    let document: serde_json::Value =
        serde_json::from_str(&answer.text().await.expect("body")).expect("json");
    assert_eq!(document["client_id"], url.as_str(), "{document}");
    assert_eq!(
        document["redirect_uris"],
        serde_json::json!([format!("{}/auth/callback", with.base)])
    );
    assert_eq!(document["token_endpoint_auth_method"], "none");

    let without = start(
        "general:\n  server:\n    bind: 127.0.0.1:0\n  inbound_auth:\n    type: none\n",
        None,
    )
    .await;
    let missing = http
        .get(format!("{}/oauth/client-metadata.json", without.base))
        .send()
        .await
        .expect("get");
    assert_eq!(missing.status(), 404);
}

/// A remote server that answers `403 insufficient_scope` to a user's
/// token: the call asks the user to authorize again for the grant's scopes
/// plus the one the server names, and then goes through.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_servers_insufficient_scope_asks_the_user_to_step_up() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_remote, resource) = serve_for(&auth, &api).await;
    let provider = format!(
        "    _type: mcp_oauth2\n    server_url: {resource}\n    client_id: authhost-test\n    client_secret: test-secret\n    redirect_uri: http://127.0.0.1:{{port}}/auth/callback\n    scopes: [read]"
    );
    let gateway = start(&gateway_yaml(&resource, &provider), None).await;
    let http = crate::server::client();
    let invoke = || async {
        let answer = http
            .post(format!("{}/v1/tools/items_search/invoke", gateway.base))
            .bearer_auth(token("alice", "unused", "tools"))
            .header("content-type", "application/json")
            .body(r#"{"q": "gloves"}"#)
            .send()
            .await
            .expect("invoke");
        let status = answer.status();
        let body: serde_json::Value =
            serde_json::from_str(&answer.text().await.expect("body")).expect("json");
        (status, body)
    };

    let (status, body) = invoke().await;
    assert_eq!(status, 401, "{body}");
    crate::mcp_server::authorize_at(body["auth_url"].as_str().expect("auth_url")).await;
    // The grant has `read`; the server wants `tools`: authorize again.
    let (status, body) = invoke().await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "authorization_required", "{body}");
    // The link asks for the grant's scope plus the server's.
    let link = body["auth_url"].as_str().expect("auth_url");
    let payload = link
        .rsplit('/')
        .next()
        .and_then(|t| t.split('.').next())
        .expect("payload");
    let payload: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload)
            .expect("base64"),
    )
    .expect("json");
    assert_eq!(
        payload["s"],
        serde_json::json!(["read", "tools"]),
        "{payload}"
    );
    crate::mcp_server::authorize_at(body["auth_url"].as_str().expect("auth_url")).await;
    let (status, body) = invoke().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["body"]["structuredContent"]["query"], "q=gloves",
        "{body}"
    );
    assert_eq!(api.hits().len(), 1);
}

/// `mcp_oauth2` with neither a client id nor a metadata document URL:
/// `authhost serve` registers itself at the authorization server (RFC 7591)
/// on the first connect and keeps the registration sealed in its token
/// store, so a restarted server connects the next user with the same
/// client instead of registering again, and `tokens` lists and drops it.
#[tokio::test(flavor = "multi_thread")]
async fn mcp_oauth2_registers_itself_once_and_keeps_the_registration() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_remote, resource) = serve_for(&auth, &api).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = crate::support::free_port();
    let provider = format!(
        "    _type: mcp_oauth2\n    server_url: {resource}\n    redirect_uri: http://127.0.0.1:{port}/auth/callback"
    );
    let yaml =
        gateway_yaml(&resource, &provider).replace("{dir}", &dir.path().display().to_string());
    let config = dir.path().join("workflow.yaml");
    std::fs::write(&config, yaml).expect("write");
    let bind = format!("127.0.0.1:{port}");
    let serve = || {
        let (config, bind) = (config.clone(), bind.clone());
        tokio::task::spawn_blocking(move || {
            crate::server::spawn_serve(authhost(), &config, Some(&bind))
        })
    };
    let http = crate::server::client();
    let invoke = |base: String, user: &'static str| {
        let http = http.clone();
        async move {
            let answer = http
                .post(format!("{base}/v1/tools/items_search/invoke"))
                .bearer_auth(token(user, "unused", "tools"))
                .header("content-type", "application/json")
                .body(r#"{"q": "mittens"}"#)
                .send()
                .await
                .expect("invoke");
            let status = answer.status();
            let body: serde_json::Value =
                serde_json::from_str(&answer.text().await.expect("body")).expect("json");
            (status, body)
        }
    };
    let connect = |base: String, user: &'static str| async move {
        let (status, body) = invoke(base.clone(), user).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "authorization_required", "{body}");
        crate::mcp_server::authorize_at(body["auth_url"].as_str().expect("auth_url")).await;
        let (status, body) = invoke(base, user).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            body["body"]["structuredContent"]["query"], "q=mittens",
            "{body}"
        );
    };

    let (first, base) = serve().await.expect("serve");
    connect(base.clone(), "alice").await;
    let registered = auth.get(|inner| inner.registered.clone());
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(
        registered[0].redirect_uris,
        [format!("http://127.0.0.1:{port}/auth/callback")]
    );
    assert!(crate::server::terminate(first).success());

    let (second, base) = serve().await.expect("serve");
    let (status, body) = invoke(base.clone(), "alice").await;
    assert_eq!(status, 200, "alice's grant outlives the restart: {body}");
    connect(base, "bob").await;
    assert_eq!(
        auth.get(|inner| inner.registered.len()),
        1,
        "the kept registration served bob"
    );
    assert!(crate::server::terminate(second).success());
    assert_eq!(api.hits().len(), 3);

    let config = config.display().to_string();
    let listed = mcp(args(&["tokens", "list", "--config", &config]), vec![]).await;
    assert_eq!(listed.code, 0, "{}", listed.all());
    assert!(listed.stdout.contains("plugin:"), "{}", listed.stdout);
    let client_secret = registered[0].secret.clone();
    assert!(!client_secret.is_empty());
    assert!(!listed.all().contains(&client_secret), "{}", listed.all());
    for file in std::fs::read_dir(dir.path()).expect("dir") {
        let bytes = std::fs::read(file.expect("entry").path()).expect("read");
        assert!(
            !bytes
                .windows(client_secret.len())
                .any(|w| w == client_secret.as_bytes()),
            "the registration's secret is sealed"
        );
    }
}

/// A remote MCP server's tools called with a token exchanged from the
/// caller's own (RFC 8693): the remote server sees the user, its resource
/// as the audience.
#[tokio::test(flavor = "multi_thread")]
async fn a_remote_servers_tools_carry_a_token_exchanged_from_the_callers() {
    let (api, auth) = (echo::start(), oauth_server::start());
    let (_remote, resource) = serve_for(&auth, &api).await;
    let gateway = start(
        &formatdoc!(
            r#"
                general:
                  server:
                    bind: 127.0.0.1:0
                  inbound_auth:
                    type: jwt
                    algorithms: [RS256]
                    jwks_url: {auth}/.well-known/jwks.json
                    issuer: {auth}
                    audience: authhost
                authentication:
                  items:
                    _type: oauth2_token_exchange
                    token_url: {auth}/token
                    client_id: authhost-test
                    client_secret: test-secret
                    subject_token_type: jwt
                    resource: {resource}
                    scopes: [tools]
                tools:
                  items:
                    _type: mcp
                    url: {resource}
                    auth_provider: items
            "#,
            auth = auth.base,
        ),
        None,
    )
    .await;
    let answer = crate::server::client()
        .post(format!("{}/v1/tools/items_search/invoke", gateway.base))
        .bearer_auth(crate::token_exchange::caller_token(&auth.base, "alice"))
        .header("content-type", "application/json")
        .body(r#"{"q": "scarves"}"#)
        .send()
        .await
        .expect("invoke");
    let status = answer.status();
    let body: serde_json::Value =
        serde_json::from_str(&answer.text().await.expect("body")).expect("json");
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["body"]["structuredContent"]["query"], "q=scarves",
        "{body}"
    );
    let exchanges = auth.get(|inner| inner.exchanges.clone());
    assert_eq!(exchanges.len(), 1, "{exchanges:?}");
    assert_eq!(exchanges[0]["subject"], "alice");
    assert_eq!(exchanges[0]["resource"], resource);
}
