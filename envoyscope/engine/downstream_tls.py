"""The TLS handshake a listener's filter chain does with the client: Envoy's ``ServerContextImpl``.

After ``findFilterChain`` the chain's transport socket runs. A ``DownstreamTlsContext`` presents a certificate
(picked by SNI among the chain's certificates, else the first), asks for a client certificate when it has a
validation context, fails the handshake when ``require_client_certificate`` is set and none comes, and picks the
ALPN by the server's preference among what the client offers (none when they share nothing). Plaintext bytes
reach BoringSSL as a broken ClientHello: the handshake fails and Envoy closes the connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envoyscope.engine.request import Wire
from envoyscope.engine.steps import Step
from envoyscope.engine.tls import source_of, validation_of
from envoyscope.model.certs import data_source_bytes, decode_certificate
from envoyscope.model.dump import ConfigDump

# BoringSSL's reasons as Envoy writes them in %DOWNSTREAM_TRANSPORT_FAILURE_REASON%.
NO_CLIENT_CERT = "PEER_DID_NOT_RETURN_A_CERTIFICATE"
PLAINTEXT_HTTP = "HTTP_REQUEST"
PLAINTEXT_OTHER = "WRONG_VERSION_NUMBER"
UNTRUSTED_CERT = "CERTIFICATE_VERIFY_FAILED"


@dataclass(frozen=True, slots=True)
class ServerCert:
    source: str  # sds:NAME | file:/path | inline
    subject: str = ""
    sans: tuple[str, ...] = ()
    not_after: str = ""  # YYYY-MM-DD, when the dump holds the certificate

    def describe(self) -> str:
        facts = [f"subject {self.subject}" if self.subject else "",
                 f"SANs {', '.join(self.sans)}" if self.sans else "",
                 f"valid until {self.not_after}" if self.not_after else ""]
        shown = "; ".join(f for f in facts if f)
        return f"{self.source} ({shown})" if shown else self.source


@dataclass(frozen=True, slots=True)
class DownstreamTls:
    """What the client meets when its connection reaches a chain that terminates TLS."""

    certificate: ServerCert | None
    require_client_certificate: bool
    trusted_ca: str | None
    trusted_sans: tuple[str, ...]
    server_alpn: tuple[str, ...]
    negotiated_alpn: str | None
    failure: str | None = None  # BoringSSL's reason when the handshake cannot succeed

    def to_json(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "certificate": None if cert is None else {"source": cert.source, "subject": cert.subject or None,
                                                      "sans": list(cert.sans), "not_after": cert.not_after or None},
            "require_client_certificate": self.require_client_certificate,
            "trusted_ca": self.trusted_ca,
            "trusted_sans": list(self.trusted_sans),
            "server_alpn": list(self.server_alpn),
            "negotiated_alpn": self.negotiated_alpn,
            "failure": self.failure,
        }


def downstream_context(chain: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The chain's DownstreamTlsContext and its place, or None when the chain does not terminate TLS."""
    socket = chain.get("transport_socket") or {}
    typed = socket.get("typed_config") or {}
    if str(typed.get("@type", "")).endswith("DownstreamTlsContext") or (
            socket.get("name") in ("envoy.transport_sockets.tls", "tls") and isinstance(typed, dict)):
        return typed, "transport_socket.typed_config"
    legacy = chain.get("tls_context")  # v2 filter chains
    if isinstance(legacy, dict):
        return legacy, "tls_context"
    return None


def _flag(value: Any) -> bool:
    return bool(value.get("value") if isinstance(value, dict) else value)


def _matches_sni(sans: tuple[str, ...], sni: str) -> bool:
    sni = sni.lower()
    for san in sans:
        san = san.lower()
        if san == sni or (san.startswith("*.") and sni.endswith(san[1:]) and "." not in sni[: -len(san) + 1]):
            return True
    return False


def _certificates(common: dict[str, Any], proxy: ConfigDump) -> list[ServerCert]:
    found: list[ServerCert] = []
    for sds in common.get("tls_certificate_sds_secret_configs") or ():
        name = str(sds.get("name", ""))
        secret = proxy.secret(name)
        data = data_source_bytes(((secret.raw.get("tls_certificate") or {}).get("certificate_chain"))
                                 if secret else None)
        found.append(_described(f"sds:{name}", data))
    for cert in common.get("tls_certificates") or ():
        chain = cert.get("certificate_chain") or {}
        found.append(_described(source_of(chain), data_source_bytes(chain)))
    return found


def _described(source: str, data: bytes | None) -> ServerCert:
    info = decode_certificate(data) if data else None
    if info is None:
        return ServerCert(source)
    return ServerCert(source, info.subject, info.sans, info.not_after.date().isoformat())


def _pick(certs: list[ServerCert], sni: str | None) -> tuple[ServerCert | None, str]:
    if not certs:
        return None, "no certificate is configured (Envoy would have rejected the listener)"
    if sni and len(certs) > 1:
        for cert in certs:
            if _matches_sni(cert.sans, sni):
                return cert, f"presents {cert.describe()}, whose SANs match the SNI {sni}"
        return certs[0], f"presents {certs[0].describe()} (no certificate's SANs match the SNI {sni}: the first)"
    return certs[0], f"presents {certs[0].describe()}"


def _negotiate(server: tuple[str, ...], client: tuple[str, ...]) -> tuple[str | None, str]:
    if not server:
        return None, "no ALPN configured on the listener: none is negotiated"
    if not client:
        return None, f"the client offers no ALPN (the listener would choose from {', '.join(server)})"
    for proto in server:
        if proto in client:
            return proto, f"ALPN {proto} (the listener's preference among {', '.join(client)})"
    return None, f"no ALPN in common ({', '.join(server)} vs {', '.join(client)}): none is negotiated"


def terminate_tls(chain: dict[str, Any], chain_path: str, wire: Wire, proxy: ConfigDump) -> tuple[
        DownstreamTls | None, Step | None]:
    """The downstream handshake of the chosen chain, as a step; (None, None) when the chain is plaintext."""
    found = downstream_context(chain)
    if found is None:
        return None, None
    context, where = found
    path = f"{chain_path}.{where}"
    common = context.get("common_tls_context") or {}
    cert, cert_why = _pick(_certificates(common, proxy), wire.sni)
    trusted_ca, trusted_sans = validation_of(common)
    required = _flag(context.get("require_client_certificate"))
    server_alpn = tuple(str(a) for a in common.get("alpn_protocols") or ())
    alpn, alpn_why = _negotiate(server_alpn, wire.alpn)
    client = _client_part(required, trusted_ca, trusted_sans, wire)
    verifies = trusted_ca is not None and _trust_chain(common) != "ACCEPT_UNTRUSTED"
    failure, fail_why = _failure(required, verifies, wire)
    tls = DownstreamTls(cert, required, trusted_ca, trusted_sans, server_alpn, alpn, failure)
    if failure:
        return tls, Step("downstream_tls", None, fail_why, path, raw=context)
    matched = f"{cert.source if cert else 'TLS'}" + (f" · {alpn}" if alpn else "")
    return tls, Step("downstream_tls", matched, f"the chain terminates TLS: {cert_why}; {client}; {alpn_why}", path,
                     raw=context)


def _client_part(required: bool, ca: str | None, sans: tuple[str, ...], wire: Wire) -> str:
    if ca is None and not required:
        return "no client certificate is asked for"
    trust = f"trusted CA {ca or '(none)'}" + (f", SANs {', '.join(sans)}" if sans else "")
    need = "a client certificate is required" if required else "a client certificate is asked for (optional)"
    if wire.client_cert == "validated":
        return f"{need} ({trust}): the client's certificate is one it trusts"
    if wire.client_cert == "offered":
        return (f"{need} ({trust}): the previous proxy presents its certificate, assumed trusted (envoyscope "
                "holds no certificate to verify)")
    if wire.client_cert == "presented":
        return f"{need} ({trust}): the client presents one the listener does not trust"
    return f"{need} ({trust}): the client presents none" + ("" if required else ", which the listener accepts")


def _trust_chain(common: dict[str, Any]) -> str:
    context = common.get("validation_context") or (common.get("combined_validation_context") or {}).get(
        "default_validation_context") or {}
    return str(context.get("trust_chain_verification", "VERIFY_TRUST_CHAIN"))


def _failure(required: bool, verifies: bool, wire: Wire) -> tuple[str | None, str]:
    if wire.transport != "tls":
        reason = PLAINTEXT_HTTP if wire.http else PLAINTEXT_OTHER
        what = "plaintext HTTP" if wire.http else "plaintext bytes"
        return reason, (f"the chain terminates TLS but the client sends {what}: the handshake fails "
                        f"({reason}) and Envoy closes the connection")
    if required and not wire.client_cert:
        return NO_CLIENT_CERT, ("the chain requires a client certificate (require_client_certificate) and the "
                                f"client presents none: the handshake fails ({NO_CLIENT_CERT}) and Envoy closes "
                                "the connection (pass --client-cert validated for a client it trusts)")
    if verifies and wire.client_cert == "presented":
        return UNTRUSTED_CERT, ("the client's certificate is not signed by a CA the chain trusts: the handshake "
                                f"fails ({UNTRUSTED_CERT}) and Envoy closes the connection")
    return None, ""
