#!/usr/bin/env python3
"""Call an authhost tool from Python, connecting the user's accounts first.

Run (against `authhost serve`):
    python3 examples/python-client/client.py --base http://127.0.0.1:8080 \
        --tool list_repos --token "$JWT" [--arg name=value ...]

With `inbound_auth: {type: none, trust_user_header: X-User-Id}` (development
on loopback) pass `--user alice` instead of `--token`.

Before the call, a preflight (POST /v1/auth/preflight) lists the providers
the tool needs that the user has not connected; for each, the client prints
the connect link (and opens a browser unless --no-browser) and waits on the
link's status (GET <link>?wait=30) until the user has connected or --wait
seconds have passed. A 401 `authorization_required` during the call (a grant
revoked meanwhile, a tool needing more scopes) is handled the same way.
Needs `requests`.
"""

import argparse
import json
import sys
import time
import webbrowser

import requests


def invoke(base, tool, headers, arguments):
    """POST /v1/tools/{tool}/invoke; returns (status, JSON body)."""
    response = requests.post(
        f"{base}/v1/tools/{tool}/invoke", json=arguments, headers=headers, timeout=60
    )
    try:
        body = response.json()
    except ValueError:
        body = {"error": "not_json", "message": response.text}
    return response.status_code, body


def preflight(base, tool, headers):
    """POST /v1/auth/preflight for one tool; the providers still to connect."""
    response = requests.post(
        f"{base}/v1/auth/preflight", json={"tools": [tool]}, headers=headers, timeout=30
    )
    response.raise_for_status()
    return [p for p in response.json()["providers"] if p.get("connect_url")]


def wait_for_connection(provider, link, headers, options):
    """Prints the connect link, then long-polls its status; True once connected."""
    print(f"authorize {provider} at: {link}", flush=True)
    if not options.no_browser:
        webbrowser.open(link)
    deadline = time.monotonic() + options.wait
    while time.monotonic() < deadline:
        response = requests.get(
            link, params={"wait": 30}, headers={**headers, "Accept": "application/json"}, timeout=60
        )
        response.raise_for_status()
        status = response.json()["status"]
        if status == "completed":
            return True
        if status in ("refused", "expired"):
            print(f"{provider}: the connection was {status}: {response.json().get('reason')}", file=sys.stderr)
            return False
    print("gave up waiting for the authorization", file=sys.stderr)
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8080")
    parser.add_argument("--tool", required=True)
    parser.add_argument("--token", help="the caller's JWT")
    parser.add_argument("--user", help="user id for trust_user_header (development)")
    parser.add_argument("--arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--wait", type=float, default=300, help="seconds to wait for authorization")
    parser.add_argument("--no-browser", action="store_true")
    options = parser.parse_args()

    headers = {}
    if options.token:
        headers["Authorization"] = f"Bearer {options.token}"
    if options.user:
        headers["X-User-Id"] = options.user
    arguments = dict(a.split("=", 1) for a in options.arg)

    for missing in preflight(options.base, options.tool, headers):
        if not wait_for_connection(missing["provider"], missing["connect_url"], headers, options):
            return 1
    status, body = invoke(options.base, options.tool, headers, arguments)
    if status == 401 and body.get("error") == "authorization_required":
        if not wait_for_connection(body["provider"], body["auth_url"], headers, options):
            return 1
        status, body = invoke(options.base, options.tool, headers, arguments)
    if status != 200:
        print(f"authhost answered {status}: {json.dumps(body)}", file=sys.stderr)
        return 1
    print(json.dumps(body["body"], indent=2))
    return 0 if body["status"] < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
