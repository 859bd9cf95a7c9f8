#!/usr/bin/env bash
# The client command the MCP conformance suite runs (`conformance client
# --command`): it appends the server URL and names the scenario in
# MCP_CONFORMANCE_SCENARIO. Each scenario is answered with the real
# `authhost mcp` commands a user would type.
#
#   AUTHHOST=target/debug/authhost tests/mcp-conformance-client.sh URL
set -euo pipefail
AUTHHOST="${AUTHHOST:-target/debug/authhost}"
URL="${!#}"
case "${MCP_CONFORMANCE_SCENARIO:-}" in
    initialize) exec "$AUTHHOST" mcp tools "$URL" ;;
    tools_call) exec "$AUTHHOST" mcp call "$URL" add_numbers --arg a=5 --arg b=3 ;;
    *)
        echo "scenario ${MCP_CONFORMANCE_SCENARIO:-?} is not one authhost's client runs" >&2
        exit 2
        ;;
esac
