#!/usr/bin/env bash
# The client command the MCP conformance suite runs (`conformance client
# --command`): it appends the server URL, names the scenario in
# MCP_CONFORMANCE_SCENARIO and, for some, gives credentials in
# MCP_CONFORMANCE_CONTEXT (JSON). Each scenario is answered with the real
# `authhost mcp` commands a user would type; the "browser" that follows the
# authorization URL to authhost's loopback redirect is curl.
#
#   AUTHHOST=target/debug/authhost tests/mcp-conformance-client.sh URL
set -euo pipefail
AUTHHOST="${AUTHHOST:-target/debug/authhost}"
URL="${!#}"
SCENARIO="${MCP_CONFORMANCE_SCENARIO:-}"

# context KEY: one value of the scenario's context, or nothing.
context() {
    python3 -c 'import json, os, sys; print(json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}").get(sys.argv[1], ""))' "$1"
}

case "$SCENARIO" in
    initialize) exec "$AUTHHOST" mcp tools "$URL" ;;
    tools_call) exec "$AUTHHOST" mcp call "$URL" add_numbers --arg a=5 --arg b=3 ;;
    auth/*)
        export BROWSER="curl -fsS -o /dev/null -L"
        args=(--timeout 20s --client-metadata-url https://conformance-test.local/client-metadata.json)
        client_id=$(context client_id)
        if [ -n "$client_id" ]; then
            args+=(--client-id "$client_id")
            secret=$(context client_secret)
            if [ -n "$secret" ]; then
                export MCP_CLIENT_SECRET="$secret"
                args+=(--client-secret-env MCP_CLIENT_SECRET)
            fi
            pem=$(context private_key_pem)
            if [ -n "$pem" ]; then
                key=$(mktemp)
                trap 'rm -f "$key"' EXIT
                printf '%s\n' "$pem" >"$key"
                args+=(--private-key-file "$key")
            fi
        fi
        case "$SCENARIO" in auth/client-credentials-*) args+=(--client-credentials) ;; esac
        "$AUTHHOST" mcp call "$URL" test-tool "${args[@]}"
        ;;
    *)
        echo "scenario $SCENARIO is not one authhost's client runs" >&2
        exit 2
        ;;
esac
