#!/usr/bin/env python3
"""A receiver of Herald messages signed by an rs*/es* policy with
OpenID Connect discovery: the keys come from the policy's issuer, found
with PyJWT (pip install 'PyJWT[crypto]').

    HERALD_ISSUER=https://herald.example.com/wdc/webhook_policies/3 \\
        python3 jws_discovery.py [port]

HERALD_ISSUER is the issuer you trust, configured here, never taken from a
message: the message's `iss` must equal it. Prints one JSON line per
message ({"verified": true, "data": ...} or {"verified": false, ...}) and
answers 204, or 401 when the message does not verify."""
import json
import os
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt

ISSUER = os.environ["HERALD_ISSUER"]
AUDIENCE = os.environ.get("HERALD_AUDIENCE")  # the policy's jwt_audience, if any
_jwks = None


def jwks_client():
    """The policy's key set, found from the issuer once; PyJWKClient
    caches the keys and fetches them again when a message names a new
    `kid` (after a rotation)."""
    global _jwks
    if _jwks is None:
        url = ISSUER + "/.well-known/openid-configuration"
        with urllib.request.urlopen(url, timeout=10) as answer:
            configuration = json.load(answer)
        _jwks = jwt.PyJWKClient(configuration["jwks_uri"], lifespan=3600)
    return _jwks


def verify(body: bytes) -> dict:
    """The message (`data` claim) of a received body, or an exception."""
    token = json.loads(body)["jwt"]
    key = jwks_client().get_signing_key_from_jwt(token)
    claims = jwt.decode(
        token,
        key=key.key,
        algorithms=[key.algorithm_name],
        issuer=ISSUER,
        audience=AUDIENCE,
        options={"verify_aud": AUDIENCE is not None},
        leeway=60,
    )
    return claims["data"]


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            result = {"verified": True, "data": verify(body)}
        except Exception as error:  # any failure means: do not trust it
            result = {"verified": False, "error": f"{type(error).__name__}: {error}"}
        print(json.dumps(result), flush=True)
        self.send_response(204 if result["verified"] else 401)
        self.end_headers()

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = HTTPServer(("127.0.0.1", int(sys.argv[1]) if len(sys.argv) > 1 else 0), Receiver)
    print(json.dumps({"listening": server.server_address[1]}), flush=True)
    server.serve_forever()
