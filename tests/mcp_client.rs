//! `authhost mcp tools|call URL`: authhost as an MCP client of a remote
//! server — here `serve`'s own `/mcp`, a real Streamable HTTP server with
//! JWT callers — listing tools, calling one with typed arguments, and
//! reporting the server's authorization challenge.

use crate::mcp_server::{serve, token};
use crate::support::{authhost, run, Run};

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

    let bare = mcp(args(&["mcp", "tools", &resource]), vec![]).await;
    assert_ne!(bare.code, 0);
    assert!(bare.stderr.contains("answered 401"), "{}", bare.stderr);
    assert!(bare.stderr.contains("scope `tools`"), "{}", bare.stderr);
    assert!(bare.stderr.contains(&metadata), "{}", bare.stderr);
    assert!(bare.stderr.contains("--bearer-env"), "{}", bare.stderr);
    // The server's metadata, read and checked: who issues its tokens.
    assert!(
        bare.stderr.contains(&format!(
            "its protected resource metadata ({metadata}) names the authorization server(s) https://idp.test and the scopes tools"
        )),
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
