"""``envoy.filters.http.jwt_authn``: which requirement applies, where the token is read, and Envoy's answer.

Follows Envoy's ``Filter::decodeHeaders``: a CORS preflight passes when ``bypass_cors_preflight``; a per-route
``PerRouteConfig`` (``disabled`` / ``requirement_name``) wins over the ``rules``, which are tried in order (the first
whose ``match`` matches decides; none matching lets the request through). The requirement's verifier tree is
``verifier.cc``'s: a provider (or provider and audiences), ``requires_any`` (the first success wins; failing that the
most telling error: anything but missing / unknown issuer, then unknown issuer, then missing), ``requires_all``
(the first failure), ``allow_missing`` and ``allow_missing_or_failed`` (tokens of every provider). Each provider
reads its tokens from its ``from_headers`` (the value after ``value_prefix``), ``from_params`` and ``from_cookies``,
or ``Authorization: Bearer`` and ``?access_token=`` by default; every token found must verify (``authenticator.cc``).
A rejection is 401 (403 when only the audiences fail) with ``jwt_authn_access_denied{…}`` in the response code
details, exactly as Envoy writes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from envoyscope.engine.forwarding import Change
from envoyscope.engine.http_filters import jwt_token
from envoyscope.engine.http_filters.base import FilterContext, FilterVerdict
from envoyscope.engine.matchers import HttpRequest, parse_query
from envoyscope.engine.steps import NearMiss
from envoyscope.model.duration import duration_seconds

TYPE = "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
METADATA_NAMESPACE = "envoy.filters.http.jwt_authn"  # Envoy's fixed namespace, whatever the filter's name
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@dataclass(frozen=True, slots=True)
class Token:
    """A token found in a request: where, and which issuers that location was configured for (None: any)."""

    value: str
    where: str
    header: str | None  # the header it came from (removed unless the provider forwards it)
    issuers: frozenset[str] | None


@dataclass(slots=True)
class Outcome:
    """What a verifier (sub)tree found: Envoy's status and what the trace says and does about it."""

    status: str
    notes: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    changes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    def absorb(self, other: Outcome) -> None:
        self.notes += other.notes
        self.metadata.update(other.metadata)
        self.changes += other.changes
        self.assumptions += [a for a in other.assumptions if a not in self.assumptions]


# -- where tokens are read (extractor.cc) --

def _locations(providers: list[dict[str, Any]]) -> tuple[dict[tuple[str, str], frozenset[str] | None], dict[str, Any],
                                                          dict[str, Any]]:
    """Header locations (name, prefix), query parameters and cookies of these providers, with the issuers each
    location serves (None: a provider without ``issuer`` reads there, so any issuer is accepted)."""
    headers: dict[tuple[str, str], set[str] | None] = {}
    params: dict[str, set[str] | None] = {}
    cookies: dict[str, set[str] | None] = {}

    def add(table: dict[Any, set[str] | None], key: Any, issuer: str) -> None:
        known = table.setdefault(key, set())
        if known is None or not issuer:
            table[key] = None
        else:
            known.add(issuer)

    for provider in providers:
        issuer = str(provider.get("issuer") or "")
        for spec in provider.get("from_headers") or ():
            add(headers, (str(spec.get("name", "")).lower(), str(spec.get("value_prefix") or "")), issuer)
        for name in provider.get("from_params") or ():
            add(params, str(name), issuer)
        for name in provider.get("from_cookies") or ():
            add(cookies, str(name), issuer)
        if not (provider.get("from_headers") or provider.get("from_params") or provider.get("from_cookies")):
            add(headers, ("authorization", "Bearer "), issuer)
            add(params, "access_token", issuer)

    def frozen(table: dict[Any, set[str] | None]) -> dict[Any, frozenset[str] | None]:
        return {k: (None if v is None else frozenset(v)) for k, v in table.items()}

    return frozen(headers), frozen(params), frozen(cookies)


def extract_token(value: str, prefix: str) -> str | None:
    """The token in a header value: from the first token character after ``prefix`` to the end (Envoy 1.40 keeps
    the rest of the value, trailing text included); None when the prefix is not in the value."""
    if not prefix:
        return value
    at = value.find(prefix)
    if at < 0:
        return None
    rest = value[at + len(prefix):]
    for index, ch in enumerate(rest):
        if ch in _TOKEN_CHARS:
            return rest[index:]
    return value


def _cookies(ctx: FilterContext) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, value in ctx.wire.headers:
        if name != "cookie":
            continue
        for part in value.split(";"):
            key, sep, val = part.strip().partition("=")
            if sep:
                found.setdefault(key.strip(), val.strip().strip('"'))
    return found


def extract(providers: list[dict[str, Any]], ctx: FilterContext) -> list[Token]:
    """Every token of these providers' locations, in Envoy's order: headers (by name + prefix), then query
    parameters, then cookies (each by name)."""
    headers, params, cookies = _locations(providers)
    tokens: list[Token] = []
    for (name, prefix), issuers in sorted(headers.items(), key=lambda item: item[0][0] + item[0][1]):
        value = ctx.header(name)
        if value is None:
            continue
        token = extract_token(value, prefix)
        if token is not None:
            shown = f"header `{name}`" + (f" after `{prefix.strip()}`" if prefix.strip() else "")
            tokens.append(Token(token, shown, name, issuers))
    query = parse_query(ctx.wire.path.split("?", 1)[1].split("#", 1)[0]) if "?" in ctx.wire.path else {}
    for name, issuers in sorted(params.items()):
        if name in query:
            tokens.append(Token(query[name], f"query parameter `{name}`", None, issuers))
    jar = _cookies(ctx) if cookies else {}
    for name, issuers in sorted(cookies.items()):
        if name in jar:
            tokens.append(Token(jar[name], f"cookie `{name}`", None, issuers))
    return tokens


# -- verifying tokens (authenticator.cc) --

def _now(ctx: FilterContext) -> tuple[int, list[str]]:
    if ctx.now is not None:
        moment = ctx.now if ctx.now.tzinfo else ctx.now.replace(tzinfo=UTC)
        return int(moment.timestamp()), []
    return int(datetime.now(UTC).timestamp()), ["no time given: JWT expiry judged at this machine's clock"]


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _key_checks(jwt: jwt_token.Jwt, provider: dict[str, Any], name: str) -> tuple[str, str, list[str]]:
    """The signature against the provider's keys: (status, how it was checked, assumptions)."""
    local = provider.get("local_jwks") or {}
    inline = local.get("inline_string") if isinstance(local, dict) else None
    if inline is None and isinstance(local, dict) and local.get("inline_bytes"):
        import base64

        inline = base64.b64decode(str(local["inline_bytes"])).decode("utf-8", "replace")
    if inline is not None:
        status, kid = jwt_token.verify_signature(jwt, jwt_token.parse_jwks(str(inline)))
        return status, f"signature checked against the inline JWKS (key `{kid}`, {jwt.alg})" if kid else "", []
    source = "remote_jwks " + str(((provider.get("remote_jwks") or {}).get("http_uri") or {}).get("uri", "")) \
        if provider.get("remote_jwks") else "a JWKS file" if local else ""
    if not source:
        return "JwksNoValidKeys", "", []
    assumption = (f"provider `{name}` takes its keys from {source.strip()}, which the dump does not hold: the "
                  f"signature is not checked, envoyscope decides on the claims alone")
    return "Ok", "signature not checked (keys not in the dump)", [assumption]


def _provider_for(jwt: jwt_token.Jwt, providers: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]] | None:
    """``JwksCache::findByIssuer``: the first provider with the token's issuer, else the first without one."""
    for name, provider in providers.items():
        if provider.get("issuer") and provider.get("issuer") == jwt.iss:
            return name, provider
    for name, provider in providers.items():
        if not provider.get("issuer"):
            return name, provider
    return None


def verify_token(token: Token, jwt: jwt_token.Jwt, name: str, provider: dict[str, Any],
                 audiences: list[str] | None, now: int) -> Outcome:
    """One parsed token against one provider: time window, audiences, signature, subjects and lifetime."""
    skew = int(provider.get("clock_skew_seconds") or 0) or jwt_token.CLOCK_SKEW_SECONDS
    status = jwt_token.time_status(jwt, now, skew)
    if status == "JwtExpired":
        return Outcome(status, [f"{token.where}: expired at {_when(jwt.exp)} (clock skew {skew}s)"])
    if status == "JwtNotYetValid":
        return Outcome(status, [f"{token.where}: not valid before {_when(jwt.nbf)} (clock skew {skew}s)"])
    wanted = list(provider.get("audiences") or ()) if audiences is None else audiences
    if not jwt_token.audiences_allowed(wanted, jwt.audiences):
        return Outcome("JwtAudienceNotAllowed", [f"{token.where}: audiences {list(jwt.audiences)} are not among "
                                                 f"{wanted}"])
    status, how, assumptions = _key_checks(jwt, provider, name)
    if status != "Ok":
        return Outcome(status, [f"{token.where}: {jwt_token.message(status)} (provider `{name}`)"])
    subjects = provider.get("subjects")
    if isinstance(subjects, dict) and subjects:
        from envoyscope.engine.matchers import describe_string_match, string_match

        if not string_match(subjects, jwt.sub):
            return Outcome("JwtVerificationFail", [f"{token.where}: subject `{jwt.sub}` is not "
                                                   f"{describe_string_match(subjects)}"])
    lifetime = duration_seconds(provider.get("max_lifetime"))
    if (provider.get("require_expiration") or lifetime is not None) and not jwt.exp:
        return Outcome("JwtVerificationFail", [f"{token.where}: the provider requires an expiration, the token has "
                                               "no `exp`"])
    if lifetime and jwt.exp and jwt.exp - now > lifetime:
        return Outcome("JwtVerificationFail", [f"{token.where}: expires in more than max_lifetime {lifetime:g}s"])
    return _accepted(token, jwt, name, provider, how, assumptions)


def _accepted(token: Token, jwt: jwt_token.Jwt, name: str, provider: dict[str, Any], how: str,
              assumptions: list[str]) -> Outcome:
    level = f"jwt_authn provider {name}"
    changes: list[str] = []
    header = str(provider.get("forward_payload_header") or "")
    if header:
        value = jwt.payload_b64 + ("=" * (-len(jwt.payload_b64) % 4) if provider.get("pad_forward_payload_header")
                                   else "")
        changes.append(Change("request", "set", header, value, level).text())
    for claim in provider.get("claim_to_headers") or ():
        claimed = jwt.payload.get(str(claim.get("claim_name", "")))
        if isinstance(claimed, str | int | float | bool) and claimed != "":
            shown = str(claimed).lower() if isinstance(claimed, bool) else str(claimed)
            changes.append(Change("request", "set", str(claim.get("header_name", "")), shown, level).text())
    if not provider.get("forward") and token.header:
        changes.append(Change("request", "remove", token.header, "", level).text())
    metadata: dict[str, Any] = {}
    if provider.get("payload_in_metadata"):
        payload = dict(jwt.payload)
        for claim in ((provider.get("normalize_payload_in_metadata") or {}).get("space_delimited_claims") or ()):
            if isinstance(payload.get(claim), str):
                payload[claim] = [part for part in payload[claim].split(" ") if part]
        metadata[str(provider["payload_in_metadata"])] = payload
    if provider.get("header_in_metadata"):
        metadata[str(provider["header_in_metadata"])] = dict(jwt.header)
    facts = [f"issuer `{jwt.iss}`" if jwt.iss else "no issuer"]
    if jwt.audiences:
        facts.append(f"audiences {list(jwt.audiences)}")
    if jwt.exp:
        facts.append(f"valid until {_when(jwt.exp)}")
    if how:
        facts.append(how)
    note = f"{token.where}: accepted by provider `{name}` ({', '.join(facts)})"
    return Outcome("Ok", [note], metadata, changes, assumptions)


def authenticate(tokens: list[Token], providers: dict[str, dict[str, Any]], now: int, *, provider: str | None = None,
                 audiences: list[str] | None = None, allow_failed: bool = False,
                 allow_missing: bool = False) -> Outcome:
    """``AuthenticatorImpl``: the tokens from the last found to the first; all must verify unless failures or
    missing tokens are allowed."""
    result = Outcome("JwtMissed", [] if tokens else ["no token in " + (f"provider `{provider}`'s locations"
                                                                        if provider else "any provider's locations")])
    pending = list(tokens)
    while pending:
        token = pending.pop()
        jwt = jwt_token.parse(token.value)
        if jwt.status != "Ok":
            step = Outcome(jwt.status, [f"{token.where}: {jwt_token.message(jwt.status)}"])
        elif token.issuers is not None and jwt.iss not in token.issuers:
            step = Outcome("JwtUnknownIssuer", [f"{token.where}: issuer `{jwt.iss}` is not "
                                                f"{' or '.join(f'`{i}`' for i in sorted(token.issuers))}"])
        else:
            found = (provider, providers[provider]) if provider else _provider_for(jwt, providers)
            step = (verify_token(token, jwt, found[0], found[1], audiences, now) if found else
                    Outcome("JwtUnknownIssuer", [f"{token.where}: no provider has issuer `{jwt.iss}`"]))
        result.absorb(step)
        result.status = step.status
        if step.status != "Ok" and not allow_failed and not allow_missing:
            break
    if allow_failed or (allow_missing and result.status == "JwtMissed"):
        result.status = "Ok"
    return result


# -- requirements (verifier.cc) --

def describe(requirement: dict[str, Any]) -> str:
    if "provider_name" in requirement:
        return f"provider `{requirement['provider_name']}`"
    if "provider_and_audiences" in requirement:
        spec = requirement["provider_and_audiences"]
        return f"provider `{spec.get('provider_name')}` with audiences {list(spec.get('audiences') or ())}"
    for kind, word in (("requires_any", "any of"), ("requires_all", "all of")):
        if kind in requirement:
            inner = (requirement[kind] or {}).get("requirements") or ()
            return f"{word} [{', '.join(describe(r) for r in inner)}]"
    if "allow_missing_or_failed" in requirement:
        return "allow_missing_or_failed"
    if "allow_missing" in requirement:
        return "allow_missing"
    return "nothing (an empty requirement)"


def _rank(status: str, best: str) -> bool:
    """Whether a failed child's status replaces the one kept so far (``AnyVerifierImpl``'s aggregation)."""
    return status not in ("JwtMissed", "JwtUnknownIssuer") or best == "JwtMissed"


def verify_requirement(requirement: dict[str, Any], providers: dict[str, dict[str, Any]], ctx: FilterContext,
                       now: int) -> Outcome:
    if "provider_name" in requirement or "provider_and_audiences" in requirement:
        spec = requirement.get("provider_and_audiences") or {}
        name = str(requirement.get("provider_name") or spec.get("provider_name") or "")
        if name not in providers:
            return Outcome("NotConfigured", [f"provider `{name}` is not configured (Envoy refuses this config)"])
        tokens = extract([providers[name]], ctx)
        audiences = [str(a) for a in spec.get("audiences") or ()] or None
        return authenticate(tokens, providers, now, provider=name, audiences=audiences)
    if "requires_any" in requirement:
        inner = list((requirement["requires_any"] or {}).get("requirements") or ())
        flags = {key for r in inner for key in ("allow_missing", "allow_missing_or_failed") if key in r}
        children = [r for r in inner if not ({"allow_missing", "allow_missing_or_failed"} & set(r))]
        if not children and flags:
            children = [{"allow_missing_or_failed" if "allow_missing_or_failed" in flags else "allow_missing": {}}]
        result = Outcome("JwtMissed")
        for child in children:
            step = verify_requirement(child, providers, ctx, now)
            result.absorb(step)
            if step.status == "Ok":
                result.status = "Ok"
                return result
            if _rank(step.status, result.status):
                result.status = step.status
        if "allow_missing_or_failed" in flags or ("allow_missing" in flags and result.status == "JwtMissed"):
            result.status = "Ok"
        return result
    if "requires_all" in requirement:
        result = Outcome("Ok")
        for child in (requirement["requires_all"] or {}).get("requirements") or ():
            step = verify_requirement(child, providers, ctx, now)
            result.absorb(step)
            if step.status != "Ok":
                result.status = step.status
                return result
        return result
    if "allow_missing_or_failed" in requirement or "allow_missing" in requirement:
        tokens = extract(list(providers.values()), ctx)
        failed = "allow_missing_or_failed" in requirement
        return authenticate(tokens, providers, now, allow_failed=failed, allow_missing=not failed)
    return Outcome("Ok", ["an empty requirement: any request"])


# -- the filter --

def _is_preflight(ctx: FilterContext) -> bool:
    return (ctx.wire.method == "OPTIONS" and bool(ctx.header("origin"))
            and bool(ctx.header("access-control-request-method")))


def _rule_match(rule: dict[str, Any], ctx: FilterContext) -> tuple[bool, str]:
    from envoyscope.engine.route import match_route

    match = {k: v for k, v in (rule.get("match") or {}).items()
             if k not in ("runtime_fraction", "grpc", "tls_context", "dynamic_metadata")}
    request = HttpRequest(ctx.wire.authority, ctx.wire.path, ctx.wire.method, ctx.wire.headers)
    ok, _, why = match_route({"match": match}, request)
    return ok, why


def find_requirement(name: str, config: dict[str, Any], ctx: FilterContext) -> tuple[dict[str, Any] | None, str,
                                                                                     list[NearMiss], str | None]:
    """(the requirement, where it came from, rules passed over, a per-route error Envoy answers 403 with)."""
    requirement_map = config.get("requirement_map") or {}
    per_route = ctx.per_filter_config(name)
    if per_route is not None:
        if per_route.get("disabled"):
            return None, "disabled on this route (per-route config)", [], None
        wanted = str(per_route.get("requirement_name", ""))
        if wanted in requirement_map:
            return requirement_map[wanted], f"per-route requirement_name `{wanted}`", [], None
        names = ",".join(sorted(requirement_map))
        return None, "per-route config", [], f"Wrong requirement_name: {wanted}. It should be one of [{names}]"
    misses: list[NearMiss] = []
    for index, rule in enumerate(config.get("rules") or ()):
        ok, why = _rule_match(rule, ctx)
        label = f"rule #{index}"
        if not ok:
            misses.append(NearMiss(label, why, f"rules[{index}]"))
            continue
        if "requirement_name" in rule:
            wanted = str(rule["requirement_name"])
            return requirement_map.get(wanted), f"{label} (requirement_name `{wanted}`)", misses, None
        if "requires" in rule:
            return rule["requires"] or {}, label, misses, None
        return None, f"{label} (it requires nothing)", misses, None
    if config.get("filter_state_rules"):
        state = (config["filter_state_rules"] or {}).get("name", "")
        return None, f"no rule matches; filter state `{state}` is assumed unset", misses, None
    return None, "no rule matches the request", misses, None


def evaluate(name: str, config: dict[str, Any], ctx: FilterContext) -> FilterVerdict:
    providers = {str(k): v for k, v in (config.get("providers") or {}).items() if isinstance(v, dict)}
    if config.get("bypass_cors_preflight") and _is_preflight(ctx):
        return FilterVerdict(name, TYPE, "pass", "a CORS preflight: bypass_cors_preflight lets it through")
    requirement, source, misses, error = find_requirement(name, config, ctx)
    near = tuple(misses[-3:])
    if error is not None:
        return FilterVerdict(name, TYPE, "unauthenticated", f"{source}: {error}: Envoy answers 403", policy=source,
                             ends=True, outcome="unauthenticated", response_code=403,
                             response_code_details="jwt_authn_access_denied{" + error.replace(" ", "_") + "}")
    if requirement is None:
        return FilterVerdict(name, TYPE, "pass", f"{source}: no JWT required", near_misses=near)
    now, clock = _now(ctx)
    result = verify_requirement(requirement, providers, ctx, now)
    wants = f"{source} requires {describe(requirement)}"
    said = "; ".join(result.notes)
    assumptions = tuple(clock + result.assumptions)
    if result.status == "Ok":
        metadata = {METADATA_NAMESPACE: result.metadata} if result.metadata else {}
        return FilterVerdict(name, TYPE, "allow", f"{wants}: {said}" if said else wants, policy=source,
                             near_misses=near, metadata=metadata, changes=tuple(result.changes),
                             assumptions=assumptions)
    code = 403 if result.status == "JwtAudienceNotAllowed" else 401
    return FilterVerdict(name, TYPE, "unauthenticated",
                         f"{wants}: {said}: Envoy answers {code} `{jwt_token.message(result.status)}`",
                         policy=source, near_misses=near, ends=True, outcome="unauthenticated", response_code=code,
                         response_code_details=jwt_token.details(result.status), assumptions=assumptions)


EVALUATORS = {TYPE: evaluate}
