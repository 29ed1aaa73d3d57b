"""Keys generated for a test run, their JWKS, and tokens signed (or broken) the ways a client gets them wrong."""

from __future__ import annotations

import base64
import json
from functools import cached_property
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


def b64(data: dict[str, Any] | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Keys:
    """An RSA key (kid ``a``, RS256) and an EC P-256 key (kid ``b``, ES256) in the JWKS; ``other`` is in none."""

    @cached_property
    def rsa(self) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @cached_property
    def ec(self) -> ec.EllipticCurvePrivateKey:
        return ec.generate_private_key(ec.SECP256R1())

    @cached_property
    def other(self) -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> str:
        keys = []
        for algorithm, key, kid, alg in ((RSAAlgorithm, self.rsa, "a", "RS256"), (ECAlgorithm, self.ec, "b", "ES256")):
            jwk = algorithm.to_jwk(key.public_key(), as_dict=True)
            jwk.update(kid=kid, alg=alg)
            keys.append(jwk)
        return json.dumps({"keys": keys})

    def sign(self, claims: dict[str, Any], key: str = "rsa", kid: str | None = None) -> str:
        """``key``: rsa (RS256, kid a), ec (ES256, kid b) or other (RS256 with a key the JWKS lacks, kid a)."""
        private, alg, default_kid = {"rsa": (self.rsa, "RS256", "a"), "ec": (self.ec, "ES256", "b"),
                                     "other": (self.other, "RS256", "a")}[key]
        headers = {"kid": default_kid if kid is None else kid} if kid != "" else None
        return pyjwt.encode(claims, private, algorithm=alg, headers=headers)

    def broken(self, claims: dict[str, Any]) -> dict[str, str]:
        """Tokens Envoy refuses before any key is tried, by name."""
        good = self.sign(claims)
        head, payload, sig = good.split(".")
        return {
            "one-part": "abc", "two-parts": "a.b", "four-parts": "a.b.c.d", "empty-middle": "a..c",
            "header-not-json": f"{b64(b'notjson')}.{payload}.{sig}",
            "no-alg": f"{b64({'typ': 'JWT'})}.{payload}.{sig}",
            "alg-none": f"{b64({'alg': 'none'})}.{payload}.{sig}",
            "kid-number": f"{b64({'alg': 'RS256', 'kid': 5})}.{payload}.{sig}",
            "payload-bad-base64": f"{head}.@@@.{sig}",
            "payload-not-object": f"{head}.{b64(b'[1]')}.{sig}",
            "iss-number": f"{head}.{b64({'iss': 5})}.{sig}",
            "sub-number": f"{head}.{b64({**claims, 'sub': 5})}.{sig}",
            "iat-string": f"{head}.{b64({**claims, 'iat': 'x'})}.{sig}",
            "exp-negative": f"{head}.{b64({**claims, 'exp': -5})}.{sig}",
            "jti-number": f"{head}.{b64({**claims, 'jti': 5})}.{sig}",
            "aud-number": f"{head}.{b64({**claims, 'aud': 5})}.{sig}",
            "signature-bad-base64": f"{head}.{payload}.@@",
            "tampered": f"{head}.{b64({**claims, 'sub': 'mallory'})}.{sig}",
            "padded-header": f"{head}==.{payload}.{sig}",
        }
