// A receiver of Herald messages signed by a JWS policy whose key was pasted
// into its configuration: the `public_key_pem` of an rs*/es* policy, or the
// `jwt_secret` of an hs* one (npm install jose).
//
//   HERALD_ALG=RS256 HERALD_KEY_FILE=policy.pem \
//       HERALD_ISSUER=https://wdc.example.com node jws_key.js [port]
//
// HERALD_ISSUER is the account URL (the `iss` of a policy without
// discovery). Prints each message and answers as serve.js says.
import { readFileSync } from "node:fs";
import { importSPKI, jwtVerify } from "jose";
import { serve } from "./serve.js";

const ALG = process.env.HERALD_ALG;
const text = readFileSync(process.env.HERALD_KEY_FILE, "utf8");
// An hs* secret is used as the UTF-8 bytes of its text, as shown.
const KEY = ALG.startsWith("HS") ? new TextEncoder().encode(text.trim()) : await importSPKI(text, ALG);
const ISSUER = process.env.HERALD_ISSUER;
const AUDIENCE = process.env.HERALD_AUDIENCE;

// The message (`data` claim) of a received body, or an exception.
export async function verify(body) {
  const { jwt } = JSON.parse(body);
  const { payload } = await jwtVerify(jwt, KEY, {
    algorithms: [ALG],
    issuer: ISSUER,
    audience: AUDIENCE,
    clockTolerance: 60,
  });
  return payload.data;
}

serve((headers, body) => verify(body));
