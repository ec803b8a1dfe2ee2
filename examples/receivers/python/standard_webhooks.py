#!/usr/bin/env python3
"""A receiver of Herald messages signed by a standard_webhooks policy,
checked with the official Standard Webhooks library
(pip install standardwebhooks).

    WEBHOOK_SECRET=whsec_... python3 standard_webhooks.py [port]

Prints one JSON line per message ({"verified": true, "data": ...} or
{"verified": false, ...}) and answers 204, or 401 when the message does not
verify. During a rotation's overlap Herald signs with the new and the old
secret: a receiver holding either verifies."""
import json
import os
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

from standardwebhooks.webhooks import Webhook

WEBHOOK = Webhook(os.environ["WEBHOOK_SECRET"])


def verify(headers, body: bytes) -> dict:
    """The message of a received request, or an exception. The library
    checks the signature and that webhook-timestamp is within 5 minutes."""
    return WEBHOOK.verify(body, {k.lower(): v for k, v in headers.items()})


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            result = {"verified": True, "data": verify(self.headers, body),
                      "webhook_id": self.headers["webhook-id"]}
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
