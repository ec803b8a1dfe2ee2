#!/usr/bin/env python3
"""A receiver of Herald messages signed by a JWS policy whose key was
pasted into its configuration: the `public_key_pem` of an rs*/es* policy,
or the `jwt_secret` of an hs* one (pip install 'PyJWT[crypto]').

    HERALD_ALG=RS256 HERALD_KEY_FILE=policy.pem \\
        HERALD_ISSUER=https://wdc.example.com python3 jws_key.py [port]

HERALD_ISSUER is the account URL (the `iss` of a policy without discovery).
Prints one JSON line per message and answers 204, or 401 when it does not
verify."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt

ALG = os.environ["HERALD_ALG"]
with open(os.environ["HERALD_KEY_FILE"]) as key_file:
    # An hs* secret is used as the UTF-8 bytes of its text, as shown.
    KEY = key_file.read().strip() if ALG.startswith("HS") else key_file.read()
ISSUER = os.environ["HERALD_ISSUER"]
AUDIENCE = os.environ.get("HERALD_AUDIENCE")


def verify(body: bytes) -> dict:
    """The message (`data` claim) of a received body, or an exception."""
    claims = jwt.decode(
        json.loads(body)["jwt"],
        key=KEY,
        algorithms=[ALG],
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
