//! authhost's end-to-end tests, one binary (`cargo test --test e2e`; a
//! module alone: `cargo test --test e2e server::`). They drive the real
//! `authhost` binary, real plugin libraries, a real authorization server on
//! 127.0.0.1, real SQLite files and the real Postgres
//! (`AUTHHOST_TEST_POSTGRES_URL`), and a real headless browser. Build the
//! workspace first (`cargo build --workspace`): `cargo test` does not build
//! the plugins' `.so` files.
//!
//! Index:
//! - [`aws_sigv4`]: `aws_sigv4` signatures recomputed by an independent implementation.
//! - [`cli_info`]: `authhost info` and `--version`.
//! - [`component_examples`]: every component's example config validates and creates.
//! - [`device_code`]: `oauth2_device_code` (RFC 8628): `login --device`, polling intervals and `slow_down`.
//! - [`jwt_bearer`]: `oauth2_jwt_bearer` (RFC 7523): assertions checked by the server, tokens per subject.
//! - [`mcp_server`]: `serve` as an MCP server at `/mcp`: resource metadata, audience, origin, tools, elicitation.
//! - [`module_graph`]: no cycle between the host crate's modules.
//! - [`oauth_flow`]: `authhost login`, `call` and `tokens` against a real authorization server.
//! - [`plugin_faults`]: a misbehaving plugin (panics, timeouts, huge answers) cannot hurt the host.
//! - [`plugin_lifecycle`]: `plugins new`, `install`, `list`, `remove`; old plugin-api builds still load.
//! - [`plugin_loading`]: loading good and bad plugin libraries.
//! - [`presets`]: `preset: github`: the catalogue, validation, and quirks (nested tokens, Basic-only, non-expiring) end to end.
//! - [`proxy`]: `/v1/proxy/{provider}/…`: credentials, header hygiene, paths, retries, 1 GiB streams.
//! - [`python_client`]: the Python package's pytest suite against a real server.
//! - [`routes`]: routes without a socket (`oneshot`): health, OpenAPI, the error mapping.
//! - [`secret_redaction`]: secrets stay out of `Debug`, errors, logs and output.
//! - [`server`]: `authhost serve`: inbound auth, tools, the connect flow, replicas, metrics.
//! - [`token_handout`]: the guarded token hand-out: opt-in, caller rules, audit.
//! - [`token_exchange`]: `oauth2_token_exchange` (RFC 8693, Entra on-behalf-of): the caller's token exchanged once per token.
//! - [`token_store`]: the encrypted store on SQLite and Postgres: sealing, rotation, leases, migrations.
//! - [`user_supplied_oauth`]: users' own OAuth2 clients (`user_supplied` kind `oauth2_client_credentials`).
//! - [`workflow_call`]: `authhost call` against a real HTTP API.
//! - [`workflow_validate`]: `authhost validate` on broken, hostile and start-up-refused workflows.
//! - [`support`]: running the binary, plugin folders, the authorization server, the browser.

mod support;

mod aws_sigv4;
mod cli_info;
mod component_examples;
mod device_code;
mod jwt_bearer;
mod mcp_client;
mod mcp_server;
mod module_graph;
mod oauth_flow;
mod plugin_faults;
mod plugin_lifecycle;
mod plugin_loading;
mod presets;
mod proxy;
mod python_client;
mod routes;
mod secret_redaction;
mod server;
mod token_exchange;
mod token_handout;
mod token_store;
mod user_supplied_oauth;
mod workflow_call;
mod workflow_validate;
