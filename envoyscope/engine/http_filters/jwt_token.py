"""A JWT as Envoy's ``jwt_authn`` reads it: parse (``Jwt::parseFromString``), time window, audiences, signature.

Each failure is a `Status` whose ``message`` is the string Envoy answers in the 401 body and puts, spaces turned to
underscores, into ``%RESPONSE_CODE_DETAILS%`` as ``jwt_authn_access_denied{…}`` (each one measured on Envoy 1.40 by
``tests/proof/test_jwt_authn_vs_envoy.py``). Base64url segments are decoded as Envoy's decoder does: whitespace is
skipped, ``=`` padding is optional, any other character outside the URL-safe alphabet fails.
Signatures are checked with PyJWT's algorithm implementations, one JWKS key at a time in Envoy's order: a key whose
``kid`` or ``alg`` differs from the token's is skipped; no key left is a different failure from no key verifying.
"""

from __future__ import annotations

import base64
import json
import string
from dataclasses import dataclass, field
from typing import Any

# Envoy's status strings (Envoy::JwtVerify::getStatusString), by the name of the status.
MESSAGES = {
    "Ok": "OK",
    "JwtMissed": "Jwt is missing",
    "JwtNotYetValid": "Jwt not yet valid",
    "JwtExpired": "Jwt is expired",
    "JwtBadFormat": "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
    "JwtHeaderParseErrorBadBase64": "Jwt header is an invalid Base64url encoded",
    "JwtHeaderParseErrorBadJson": "Jwt header is an invalid JSON",
    "JwtHeaderBadAlg": "Jwt header [alg] field is required and must be a string",
    "JwtHeaderNotImplementedAlg": "Jwt header [alg] is not supported",
    "JwtHeaderBadKid": "Jwt header [kid] field is not a string",
    "JwtPayloadParseErrorBadBase64": "Jwt payload is an invalid Base64url encoded",
    "JwtPayloadParseErrorBadJson": "Jwt payload is an invalid JSON",
    "JwtPayloadParseErrorIssNotString": "Jwt payload [iss] field is not a string",
    "JwtPayloadParseErrorSubNotString": "Jwt payload [sub] field is not a string",
    "JwtPayloadParseErrorIatNotInteger": "Jwt payload [iat] field is not an integer",
    "JwtPayloadParseErrorIatOutOfRange": "Jwt payload [iat] field is not a positive 64 bit integer",
    "JwtPayloadParseErrorNbfNotInteger": "Jwt payload [nbf] field is not an integer",
    "JwtPayloadParseErrorNbfOutOfRange": "Jwt payload [nbf] field is not a positive 64 bit integer",
    "JwtPayloadParseErrorExpNotInteger": "Jwt payload [exp] field is not an integer",
    "JwtPayloadParseErrorExpOutOfRange": "Jwt payload [exp] field is not a positive 64 bit integer",
    "JwtPayloadParseErrorJtiNotString": "Jwt payload [jti] field is not a string",
    "JwtPayloadParseErrorAudNotString": "Jwt payload [aud] field is not a string or string list",
    "JwtSignatureParseErrorBadBase64": "Jwt signature is an invalid Base64url encoded",
    "JwtUnknownIssuer": "Jwt issuer is not configured",
    "JwtAudienceNotAllowed": "Audiences in Jwt are not allowed",
    "JwtVerificationFail": "Jwt verification fails",
    "JwksNoValidKeys": "Jwks doesn't have any valid public key",
    "JwksKidAlgMismatch": "Jwks doesn't have key to match kid or alg from Jwt",
}
IMPLEMENTED_ALGS = frozenset({"ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
                              "PS256", "PS384", "PS512", "EdDSA"})
CLOCK_SKEW_SECONDS = 60  # jwt_verify_lib's kClockSkewInSecond, used when clock_skew_seconds is 0 or unset
_ALPHABET = frozenset(string.ascii_letters + string.digits + "-_")
_WHITESPACE = " \t\n\r\f\v"
_U64 = 2**64 - 1


def details(status: str) -> str:
    """``%RESPONSE_CODE_DETAILS%`` of a rejection: Envoy's message with each space turned into an underscore."""
    return "jwt_authn_access_denied{" + message(status).replace(" ", "_") + "}"


def message(status: str) -> str:
    return MESSAGES.get(status, status)


def b64url_decode(text: str) -> bytes | None:
    """Decode a base64url segment as Envoy does (whitespace skipped, padding optional); None when invalid."""
    compact = "".join(ch for ch in text if ch not in _WHITESPACE)
    body = compact.rstrip("=")
    if len(compact) - len(body) > 2 or len(body) % 4 == 1 or not set(body) <= _ALPHABET:
        return None
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))


@dataclass(frozen=True, slots=True)
class Jwt:
    """A parsed token; ``status`` is ``Ok`` or the parse failure (the other fields are then partial)."""

    status: str
    header: dict[str, Any] = field(default_factory=dict)
    payload: dict[str, Any] = field(default_factory=dict)
    alg: str = ""
    kid: str = ""
    iss: str = ""
    sub: str = ""
    nbf: int = 0
    exp: int = 0
    audiences: tuple[str, ...] = ()
    signed: bytes = b""  # header.payload as given, what the signature covers
    signature: bytes = b""
    payload_b64: str = ""


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _uint(payload: dict[str, Any], key: str) -> tuple[str, int]:
    """``StructUtils::GetUInt64``: ("ok" | "missing" | "wrong_type" | "out_of_range", value)."""
    if key not in payload:
        return "missing", 0
    value = payload[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "wrong_type", 0
    if value < 0 or value > _U64:
        return "out_of_range", 0
    return "ok", int(value)


def parse(token: str) -> Jwt:
    """``Jwt::parseFromString``: the checks in Envoy's order, the first failure is the token's status."""
    parts = [p for p in token.split(".") if p]
    if len(parts) != 3:
        return Jwt("JwtBadFormat")
    raw_header = b64url_decode(parts[0])
    if raw_header is None:
        return Jwt("JwtHeaderParseErrorBadBase64")
    header = _json_object(raw_header)
    if header is None:
        return Jwt("JwtHeaderParseErrorBadJson")
    alg = header.get("alg")
    if not isinstance(alg, str):
        return Jwt("JwtHeaderBadAlg", header)
    if alg not in IMPLEMENTED_ALGS:
        return Jwt("JwtHeaderNotImplementedAlg", header, alg=alg)
    kid = header.get("kid", "")
    if not isinstance(kid, str):
        return Jwt("JwtHeaderBadKid", header, alg=alg)
    raw_payload = b64url_decode(parts[1])
    if raw_payload is None:
        return Jwt("JwtPayloadParseErrorBadBase64", header, alg=alg, kid=kid)
    payload = _json_object(raw_payload)
    if payload is None:
        return Jwt("JwtPayloadParseErrorBadJson", header, alg=alg, kid=kid)
    base: dict[str, Any] = {"header": header, "payload": payload, "alg": alg, "kid": kid}
    for key in ("iss", "sub"):
        if key in payload and not isinstance(payload[key], str):
            return Jwt(f"JwtPayloadParseError{key.capitalize()}NotString", **base)
    times: dict[str, int] = {}
    for key in ("iat", "nbf", "exp"):
        kind, value = _uint(payload, key)
        if kind == "wrong_type":
            return Jwt(f"JwtPayloadParseError{key.capitalize()}NotInteger", **base)
        if kind == "out_of_range":
            return Jwt(f"JwtPayloadParseError{key.capitalize()}OutOfRange", **base)
        times[key] = value
    if "jti" in payload and not isinstance(payload["jti"], str):
        return Jwt("JwtPayloadParseErrorJtiNotString", **base)
    aud = payload.get("aud", [])
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        return Jwt("JwtPayloadParseErrorAudNotString", **base)
    signature = b64url_decode(parts[2])
    if signature is None:
        return Jwt("JwtSignatureParseErrorBadBase64", **base)
    return Jwt("Ok", header, payload, alg, kid, str(payload.get("iss", "")), str(payload.get("sub", "")),
               times["nbf"], times["exp"], tuple(audiences), f"{parts[0]}.{parts[1]}".encode(), signature, parts[1])


def time_status(jwt: Jwt, now: int, skew: int) -> str:
    """``Jwt::verifyTimeConstraint``: not before ``nbf``, not after ``exp``, each with the clock skew."""
    if now + skew < jwt.nbf:
        return "JwtNotYetValid"
    if jwt.exp and now > jwt.exp + skew:
        return "JwtExpired"
    return "Ok"


def _sanitized(audience: str) -> str:
    """``CheckAudience`` compares audiences without an ``http://``/``https://`` prefix or a trailing slash."""
    for prefix in ("https://", "http://"):
        if audience.startswith(prefix):
            audience = audience[len(prefix):]
            break
    return audience[:-1] if audience.endswith("/") else audience


def audiences_allowed(configured: list[str], jwt_audiences: tuple[str, ...]) -> bool:
    """No audience configured allows any token; otherwise one of the token's must be among them."""
    if not configured:
        return True
    wanted = {_sanitized(a) for a in configured}
    return any(_sanitized(a) in wanted for a in jwt_audiences)


@dataclass(frozen=True, slots=True)
class Jwks:
    """The keys of a JWKS (``keys`` as dicts); ``error`` when the document is not one Envoy would load."""

    keys: tuple[dict[str, Any], ...]
    error: str = ""


def parse_jwks(text: str) -> Jwks:
    try:
        doc = json.loads(text)
    except ValueError:
        return Jwks((), "Jwks is an invalid JSON")
    if not isinstance(doc, dict) or "keys" not in doc:
        return Jwks((), "Jwks does not have [keys] field")
    keys = doc["keys"]
    if not isinstance(keys, list):
        return Jwks((), "[keys] in Jwks is not an array")
    usable = tuple(k for k in keys if isinstance(k, dict) and k.get("kty") in ("RSA", "EC", "oct", "OKP"))
    return Jwks(usable, "" if usable else MESSAGES["JwksNoValidKeys"])


def _algorithm_for(key: dict[str, Any], jwt_alg: str) -> str | None:
    """The algorithm Envoy verifies with for this key type (the token's hash where it names one)."""
    kty = key.get("kty")
    if kty == "EC":
        return jwt_alg if jwt_alg in ("ES384", "ES512") else "ES256"
    if kty == "RSA":
        return jwt_alg if jwt_alg[:2] in ("RS", "PS") else None
    if kty == "oct":
        return jwt_alg if jwt_alg in ("HS384", "HS512") else "HS256"
    if kty == "OKP" and key.get("crv") == "Ed25519":
        return "EdDSA"
    return None


def _verify_one(key: dict[str, Any], alg: str, jwt: Jwt) -> bool:
    from jwt.algorithms import get_default_algorithms
    from jwt.exceptions import InvalidKeyError

    algorithm = get_default_algorithms()[alg]
    try:
        public = algorithm.from_jwk(json.dumps(key))
        return bool(algorithm.verify(jwt.signed, public, jwt.signature))
    except (InvalidKeyError, ValueError, TypeError, KeyError):
        return False


def verify_signature(jwt: Jwt, jwks: Jwks) -> tuple[str, str]:
    """``verifyJwtWithoutTimeChecking``: (status, the key that verified: its ``kid`` or its index)."""
    matched = False
    for index, key in enumerate(jwks.keys):
        key_kid, key_alg = str(key.get("kid") or ""), str(key.get("alg") or "")
        if jwt.kid and key_kid and key_kid != jwt.kid:
            continue
        if key_alg and key_alg != jwt.alg:
            continue
        matched = True
        alg = _algorithm_for(key, jwt.alg)
        if alg is not None and _verify_one(key, alg, jwt):
            return "Ok", key_kid or f"#{index}"
    return ("JwtVerificationFail" if matched else "JwksKidAlgMismatch"), ""
