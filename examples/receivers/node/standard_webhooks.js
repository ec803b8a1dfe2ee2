// A receiver of Herald messages signed by a standard_webhooks policy,
// checked with the official Standard Webhooks library
// (npm install standardwebhooks).
//
//   WEBHOOK_SECRET=whsec_... node standard_webhooks.js [port]
//
// Prints each message and answers as serve.js says. During a rotation's overlap Herald signs with the new and the
// old secret: a receiver holding either verifies.
import { Webhook } from "standardwebhooks";
import { serve } from "./serve.js";

const webhook = new Webhook(process.env.WEBHOOK_SECRET);

// The message of a received request, or an exception. The library checks
// the signature and that webhook-timestamp is within 5 minutes. The body
// must be the exact bytes received.
export function verify(headers, body) {
  return webhook.verify(body, headers);
}

serve((headers, body) => verify(headers, body));
