#!/usr/bin/env python3
"""Call an authhost tool from Python, and follow `auth_url` when the user
must authorize first.

Run (against `authhost serve`):
    python3 examples/python-client/client.py --base http://127.0.0.1:8080 \
        --tool list_repos --token "$JWT" [--arg name=value ...]

With `inbound_auth: {type: none, trust_user_header: X-User-Id}` (development
on loopback) pass `--user alice` instead of `--token`.

When the provider needs the user's authorization, the client prints the URL
(and opens a browser unless --no-browser), then retries until the user has
authorized or --wait seconds have passed. Needs `requests`.
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

    status, body = invoke(options.base, options.tool, headers, arguments)
    if status == 401 and body.get("error") == "authorization_required":
        print(f"authorize {body['provider']} at: {body['auth_url']}", flush=True)
        if not options.no_browser:
            webbrowser.open(body["auth_url"])
        deadline = time.monotonic() + options.wait
        while status == 401 and body.get("error") == "authorization_required":
            if time.monotonic() > deadline:
                print("gave up waiting for the authorization", file=sys.stderr)
                return 1
            time.sleep(1)
            status, body = invoke(options.base, options.tool, headers, arguments)
    if status != 200:
        print(f"authhost answered {status}: {json.dumps(body)}", file=sys.stderr)
        return 1
    print(json.dumps(body["body"], indent=2))
    return 0 if body["status"] < 400 else 1


if __name__ == "__main__":
    sys.exit(main())
