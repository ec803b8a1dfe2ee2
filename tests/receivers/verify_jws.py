#!/usr/bin/env python3
"""An independent check of Herald's signed messages, with only the
`cryptography` package: verifies a compact JWS and prints its claims.

usage: verify_jws.py <jwt_alg> <public-key.pem | hmac-secret-file> < token
Exits 1 with a reason when the signature does not verify."""
import base64
import hashlib
import hmac
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def b64decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def main():
    alg, key_path = sys.argv[1], sys.argv[2]
    token = sys.stdin.read().strip()
    header_b64, payload_b64, signature_b64 = token.split(".")
    header = json.loads(b64decode(header_b64))
    if header.get("alg", "").lower() != alg or header.get("typ") != "JWT":
        sys.exit(f"unexpected header {header}")
    signed = f"{header_b64}.{payload_b64}".encode()
    signature = b64decode(signature_b64)
    bits = int(alg[2:])
    hash_alg = {256: hashes.SHA256(), 384: hashes.SHA384(), 512: hashes.SHA512()}[bits]
    key_bytes = open(key_path, "rb").read()
    try:
        if alg.startswith("hs"):
            digest = {256: hashlib.sha256, 384: hashlib.sha384, 512: hashlib.sha512}[bits]
            expected = hmac.new(key_bytes.strip(), signed, digest).digest()
            if not hmac.compare_digest(expected, signature):
                raise InvalidSignature()
        elif alg.startswith("rs"):
            load_pem_public_key(key_bytes).verify(signature, signed, padding.PKCS1v15(), hash_alg)
        elif alg.startswith("es"):
            half = len(signature) // 2
            r = int.from_bytes(signature[:half], "big")
            s = int.from_bytes(signature[half:], "big")
            load_pem_public_key(key_bytes).verify(encode_dss_signature(r, s), signed, ec.ECDSA(hash_alg))
        else:
            sys.exit(f"unsupported alg {alg}")
    except InvalidSignature:
        sys.exit("bad signature")
    print(json.dumps(json.loads(b64decode(payload_b64))))


if __name__ == "__main__":
    main()
