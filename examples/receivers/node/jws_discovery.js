// A receiver of Herald messages signed by an rs*/es* policy with OpenID
// Connect discovery: the keys come from the policy's issuer, found with
// `jose` (npm install jose).
//
//   HERALD_ISSUER=https://herald.example.com/wdc/webhook_policies/3 \
//       node jws_discovery.js [port]
//
// HERALD_ISSUER is the issuer you trust, configured here, never taken from a
// message: the message's `iss` must equal it. Prints each message and
// answers as serve.js says.
import { createRemoteJWKSet, jwtVerify } from "jose";
import { serve } from "./serve.js";

const ISSUER = process.env.HERALD_ISSUER;
const AUDIENCE = process.env.HERALD_AUDIENCE; // the policy's jwt_audience, if any
let keySet;

// The policy's key set, found from the issuer once; jose caches the keys
// and fetches them again when a message names a new `kid` (a rotation).
async function keys() {
  if (!keySet) {
    const answer = await fetch(`${ISSUER}/.well-known/openid-configuration`);
    if (!answer.ok) throw new Error(`discovery answered ${answer.status}`);
    const { jwks_uri: jwksUri } = await answer.json();
    keySet = createRemoteJWKSet(new URL(jwksUri));
  }
  return keySet;
}

// The message (`data` claim) of a received body, or an exception.
export async function verify(body) {
  const { jwt } = JSON.parse(body);
  const { payload } = await jwtVerify(jwt, await keys(), {
    issuer: ISSUER,
    audience: AUDIENCE,
    clockTolerance: 60,
  });
  return payload.data;
}

serve((headers, body) => verify(body));
