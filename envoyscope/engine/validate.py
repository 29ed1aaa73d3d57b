"""Checks of what a user types: addresses, ports, hosts, headers, paths, methods — one rule each, shared by the
CLI's flags and the TUI's trace form. Pure functions: each returns the value as envoyscope uses it or raises
`ArgumentError` naming the flag (``--ip '10.1.2': …``), so a bad value fails before anything is traced.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from envoyscope.errors import ArgumentError

if TYPE_CHECKING:
    from envoyscope.engine.request import TraceRequest

# RFC 7230 token characters (header names, methods)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_LABEL = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?")
_IPV4_LIKE = re.compile(r"[0-9.]+")
_AUTHORITY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@%\[\]]+")  # RFC 3986 authority characters
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # control characters but HTAB
PSEUDO_HEADERS = {":authority": "host", ":path": "--path", ":method": "--method", ":scheme": "--scheme"}


def ip(value: str, flag: str) -> str:
    """An IPv4 or IPv6 address (``[v6]`` too), as Python's ``ipaddress`` reads it; returned in its canonical form."""
    text = value.strip()
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if not bare:
        raise ArgumentError(flag, value, "an IP address is needed")
    try:
        parsed = ipaddress.ip_address(bare)
    except ValueError:
        raise ArgumentError(flag, value, _ip_problem(bare)) from None
    mapped = isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None
    return bare.lower() if mapped else str(parsed)  # ::ffff:10.0.0.1 stays written as dumps write it


def _ip_problem(text: str) -> str:
    if ":" in text:
        try:
            ipaddress.IPv6Address(text)
        except ValueError as v6:
            return f"not an IPv6 address ({v6})"
    if _IPV4_LIKE.fullmatch(text):
        try:
            ipaddress.IPv4Address(text)
        except ValueError as v4:
            return f"not an IPv4 address ({v4}; four numbers 0-255, e.g. 10.1.2.3)"
    return "not an IPv4 or IPv6 address"


def port(value: str | int, flag: str) -> int:
    """A TCP port: a number from 1 to 65535."""
    text = str(value).strip()
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 65536:
        raise ArgumentError(flag, str(value), "a port is a number from 1 to 65535")
    return int(text)


def host(value: str, flag: str) -> str:
    """A host as a client names it: a DNS name, an IPv4 address or an IPv6 address (``[v6]`` too). Something that
    looks like an IPv4 address (digits and dots only) must be one: ``10.1.2.300`` is refused, not looked up."""
    text = value.strip()
    if text.startswith("[") or ":" in text or _IPV4_LIKE.fullmatch(text):
        return ip(text, flag)
    problem = dns_name_problem(text)
    if problem:
        raise ArgumentError(flag, value, problem)
    return text


def dns_name_problem(text: str) -> str | None:
    """Why ``text`` is not a DNS name (labels of letters, digits, ``-`` and ``_``, at most 63 each, 253 in all)."""
    if not text:
        return "the host is empty"
    if any(c.isspace() for c in text):
        return "a host name has no spaces"
    name = text[:-1] if text.endswith(".") else text
    if len(name) > 253:
        return "a host name is at most 253 characters"
    for label in name.split("."):
        if not label:
            return "a host name has no empty label (`..`, or a leading dot)"
        if len(label) > 63:
            return f"the label `{label[:20]}…` is longer than 63 characters"
        if not _LABEL.fullmatch(label):
            return (f"the label `{label}` is not letters, digits, `-` and `_` (and starts and ends with a letter "
                    "or digit)")
    return None


URL_SCHEMES = ("http", "https", "tcp", "tls")


def from_url(value: str, flag: str = "--to") -> tuple[str, str | None, str | None]:
    """A pasted URL (``https://api.example.com/p?q=1``, ``tcp://db:3306``, ``http://[::1]:9080/``) as
    (``host[:port]``, its scheme, its path with query); anything else comes back unchanged with no scheme or path."""
    text = value.strip()
    if "://" not in text:
        return value, None, None
    from urllib.parse import urlsplit

    scheme_part = text.split("://", 1)[0].lower()
    if scheme_part not in URL_SCHEMES:
        raise ArgumentError(flag, value, f"scheme `{scheme_part}://` is not one of {', '.join(URL_SCHEMES)}")
    try:
        parts = urlsplit(text)
        given_port = parts.port
    except ValueError as exc:
        raise ArgumentError(flag, value, f"not a URL: {exc}") from None
    if not parts.hostname:
        raise ArgumentError(flag, value, "the URL has no host")
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    netloc = f"{name}:{given_port}" if given_port is not None else name
    path_part = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return netloc, scheme_part, path_part if scheme_part in ("http", "https") else None


def destination(value: str, scheme: str, flag: str = "--to") -> tuple[str, int]:
    """``host[:port]``, ``[v6]:port`` or a bare IPv6 address; the port defaults to the scheme's (none for tcp)."""
    text = value.strip()
    default = {"http": 80, "https": 443, "tls": 443}.get(scheme)
    port_text: str | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ArgumentError(flag, value, "`[` without its `]` (an IPv6 address is written [2001:db8::1]:443)")
        name, rest = text[: end + 1], text[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ArgumentError(flag, value, f"`{rest}` after the IPv6 address is not `:PORT`")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        name, port_text = text.split(":")
    else:
        name = text  # a name, an IPv4 address, or an IPv6 address without a port
    if not name.strip("[]"):
        raise ArgumentError(flag, value, "the host is empty")
    try:
        checked = host(name, flag)
    except ArgumentError as exc:
        raise ArgumentError(flag, value, exc.problem) from None
    if port_text is not None:
        try:
            return checked, port(port_text, flag)
        except ArgumentError:
            raise ArgumentError(flag, value, f"port `{port_text}` is not a number from 1 to 65535") from None
    if default is None:
        raise ArgumentError(flag, value, f"scheme {scheme} has no default port: give HOST:PORT")
    return checked, default


def address(value: str, flag: str) -> str:
    """``IP`` or ``IP:PORT`` (``[v6]:port``), as ``--proxy NAME=…`` takes it; returned canonical."""
    try:
        return _address(value.strip(), flag)
    except ArgumentError as exc:
        raise ArgumentError(flag, value, exc.problem) from None


def _address(text: str, flag: str) -> str:
    if text.startswith("[") and "]:" in text:
        bare, _, port_text = text[1:].partition("]:")
        return f"[{ip(bare, flag)}]:{port(port_text, flag)}"
    if text.count(":") == 1:
        bare, _, port_text = text.partition(":")
        return f"{ip(bare, flag)}:{port(port_text, flag)}"
    return ip(text, flag)


def address_filter(value: str, flag: str = "--address") -> str:
    """istioctl's ``--address`` filter: anything an address is written as (a pipe path, an internal listener's
    name), but what looks like an IPv4 address or ``IPv4:PORT`` must be one."""
    if re.fullmatch(r"[0-9.]+(:[0-9]*)?", value.strip()):
        address(value, flag)
    return value


def header(value: str, flag: str) -> tuple[str, str]:
    """``NAME: VALUE`` (the value may be empty). NAME is an RFC 7230 token, or ``:authority`` (another way to say
    ``host``); the other pseudo-headers have their own flags. VALUE has no CR, LF or other control character."""
    text = value.strip()
    pseudo = text.startswith(":")
    name, sep, rest = text[1:].partition(":") if pseudo else text.partition(":")
    name = (":" if pseudo else "") + name.strip()
    if not sep or name in ("", ":"):
        raise ArgumentError(flag, value, "expected 'NAME: VALUE'")
    if pseudo:
        if name.lower() != ":authority":
            other = PSEUDO_HEADERS.get(name.lower())
            hint = f"; use {other}" if other else ""
            raise ArgumentError(flag, value, f"`{name}` is not a header envoyscope sets from -H{hint}")
    elif not _TOKEN.fullmatch(name):
        raise ArgumentError(flag, value, f"`{name}` is not a header name (letters, digits and !#$%&'*+-.^_`|~)")
    if _CONTROL.search(rest):
        raise ArgumentError(flag, value, "a header value has no CR, LF or other control character")
    if name.lower() in ("host", ":authority") and not _AUTHORITY.fullmatch(rest.strip()):
        raise ArgumentError(flag, value, "a Host is HOST[:PORT] without spaces or characters a URL's authority cannot "
                                         "hold (Envoy answers 400 to it)")
    return name, rest.strip()


def path(value: str, flag: str = "--path") -> str:
    """The request target: ``/`` and the rest (with the query), or ``*``; no whitespace or control character."""
    if value != "*" and not value.startswith("/"):
        raise ArgumentError(flag, value, "a path starts with / (or is *)")
    if any(c.isspace() for c in value) or _CONTROL.search(value):
        raise ArgumentError(flag, value, "a path has no spaces, CR, LF or other control character (encode them, "
                                         "e.g. %20)")
    return value


def method(value: str, flag: str = "--method") -> str:
    """An HTTP method: an RFC 7230 token, upper-cased as clients send the usual ones."""
    if not _TOKEN.fullmatch(value):
        raise ArgumentError(flag, value, "a method is a token such as GET or POST (no spaces or separators)")
    return value.upper()


def sni(value: str, flag: str = "--sni") -> str:
    """A TLS server name: a DNS name, no port, not an IP address (RFC 6066); empty means the client sends none."""
    if value == "":
        return value
    if ":" in value or _IPV4_LIKE.fullmatch(value):
        raise ArgumentError(flag, value, "an SNI is a DNS name, without a port and not an IP address")
    problem = dns_name_problem(value)
    if problem:
        raise ArgumentError(flag, value, problem)
    return value


def alpn(value: str, flag: str = "--alpn") -> tuple[str, ...]:
    """A comma-separated list of ALPN protocol names (``h2,http/1.1``), each 1-255 printable characters."""
    names = tuple(a.strip() for a in value.split(",") if a.strip())
    for name in names:
        if len(name) > 255 or any(c.isspace() for c in name) or _CONTROL.search(name) or not name.isascii():
            raise ArgumentError(flag, value, f"`{name}` is not an ALPN protocol name (e.g. h2, http/1.1)")
    return names


def admin_url(value: str, flag: str = "--admin") -> str:
    """An Envoy admin endpoint: ``[http[s]://]HOST[:PORT][/prefix]``."""
    text = value.strip()
    url = text if "://" in text else f"http://{text}"
    try:
        parts = urlsplit(url)
        given_port = parts.port
    except ValueError as exc:
        raise ArgumentError(flag, value, f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise ArgumentError(flag, value, f"the scheme is `{parts.scheme}`: an admin URL is http:// or https://")
    hostname = parts.hostname or ""
    netloc_host = parts.netloc.rsplit("@", 1)[-1]
    if not hostname:
        raise ArgumentError(flag, value, "the URL names no host (e.g. http://127.0.0.1:15000)")
    try:
        host(f"[{hostname}]" if netloc_host.startswith("[") else hostname, flag)
    except ArgumentError as exc:
        raise ArgumentError(flag, value, exc.problem) from None
    if given_port == 0:
        raise ArgumentError(flag, value, "a port is a number from 1 to 65535")
    if parts.query or parts.fragment:
        raise ArgumentError(flag, value, "an admin URL has no ?query or #fragment")
    return text


_KUBE_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def kube_name(value: str, flag: str, *, label: bool = False) -> str:
    """A Kubernetes object name: a DNS-1123 subdomain (a namespace: a DNS-1123 label, at most 63 characters):
    lower-case letters, digits and ``-`` (and ``.`` between labels)."""
    parts = [value] if label else value.split(".")
    if not value or len(value) > (63 if label else 253) or not all(_KUBE_LABEL.fullmatch(p) for p in parts):
        what = "a namespace is" if label else "a Kubernetes name is"
        raise ArgumentError(flag, value, f"{what} lower-case letters, digits and `-`"
                                         f"{'' if label else ' (and `.`)'}, starting and ending with a letter or digit")
    return value


def pod_spec(value: str, flag: str = "--pod") -> str:
    """``NS/NAME``, ``NAME``, ``deploy/NAME`` or ``NS/deploy/NAME``."""
    parts = value.split("/")
    if len(parts) == 3 and parts[1] in ("deploy", "deployment", "deployments"):
        namespace, name = parts[0], parts[2]
    elif len(parts) == 2 and parts[0] in ("deploy", "deployment", "deployments"):
        namespace, name = None, parts[1]
    elif len(parts) in (1, 2):
        namespace, name = (parts[0] if len(parts) == 2 else None), parts[-1]
    else:
        raise ArgumentError(flag, value, "expected NS/NAME, NAME, deploy/NAME or NS/deploy/NAME")
    try:
        if namespace is not None:
            kube_name(namespace, flag, label=True)
        kube_name(name, flag)
    except ArgumentError as exc:
        raise ArgumentError(flag, value, exc.problem) from None
    return value


def positive(value: float, flag: str) -> float:
    if not value > 0:
        raise ArgumentError(flag, str(value), "must be more than 0")
    return value


def non_negative(value: int, flag: str) -> int:
    if value < 0:
        raise ArgumentError(flag, str(value), "must be 0 or more")
    return value


CLI_FLAGS = {name: name for name in ("--to", "--ip", "--source-ip", "--path", "--method", "-H", "--sni", "--alpn",
                                     "--random-value", "--principal", "--jwt", "--now")}


# Ports whose clients conventionally speak TLS themselves, and the scheme that reading traces: HTTPS on 443 and on
# the HTTPS ports of Kubernetes (6443: the API server; 8443: gateways' targetPort for 443; 9443: admission
# webhooks), and the implicit-TLS ports IANA registers for SMTP, LDAP, IMAP and POP3.
TLS_PORTS = {443: "https", 6443: "https", 8443: "https", 9443: "https", 465: "tls", 636: "tls", 993: "tls", 995: "tls"}


def plaintext_assumption(port: int, scheme_flag: str = "--scheme") -> str | None:
    """The sentence saying that a conventionally-TLS port, given no scheme, is traced as plain HTTP (what an app
    whose sidecar originates TLS sends), and naming the other reading; None for any other port."""
    other = TLS_PORTS.get(port)
    if other is None:
        return None
    return (f"plain HTTP to port {port}: no scheme was given, and an app whose sidecar originates TLS sends exactly "
            f"that; if the app speaks TLS itself, trace with `{scheme_flag} {other}`")


def checked_request(*, to: str, scheme: str | None = "http", dst_ip: str | None = None, source_ip: str | None = None,
                    req_path: str = "/", req_method: str = "GET", headers: Iterable[str] = (),
                    server_name: str | None = None, alpn_list: str = "", random_value: int = 0,
                    from_proxy: str | None = None, client_cert: str = "", principal: str | None = None,
                    inbound: bool = False, jwt_token: str | None = None, now: str | None = None,
                    flags: Mapping[str, str] = CLI_FLAGS) -> TraceRequest:
    """The `TraceRequest` the CLI's ``trace`` flags or the TUI's form describe, every value checked;
    ``flags`` names each field as the user knows it (the CLI's flags by default, the form's labels in the TUI)."""
    from envoyscope.engine.request import TraceRequest

    to, url_scheme, url_path = from_url(to, flags["--to"])
    headers = list(headers)
    if jwt_token is not None:
        headers.append(jwt_header(jwt_token, headers, flags.get("--jwt", "--jwt")))
    defaulted = url_scheme is None and scheme is None and not server_name
    if url_scheme is not None:  # a URL says its scheme exactly (it wins over a form's or a flag's)
        scheme = url_scheme
    elif scheme is None:  # not given: TLS when an SNI is given (HTTPS when HTTP parts are), else HTTP
        wants_http = req_path != "/" or req_method != "GET" or bool(headers)
        scheme = ("https" if wants_http else "tls") if server_name else "http"
    if url_path is not None and req_path == "/":
        req_path = url_path
    host_name, dst_port = destination(to, scheme, flags["--to"])
    said = plaintext_assumption(dst_port, flags.get("--scheme", "--scheme")) if defaulted else None
    return TraceRequest(
        host=host_name,
        port=dst_port,
        ip=ip(dst_ip, flags["--ip"]) if dst_ip is not None else None,
        path=path(req_path, flags["--path"]),
        method=method(req_method, flags["--method"]),
        headers=tuple(header(h, flags["-H"]) for h in headers),
        scheme=scheme,
        sni=sni(server_name, flags["--sni"]) if server_name is not None else None,
        alpn=alpn(alpn_list, flags["--alpn"]),
        source_ip=ip(source_ip, flags["--source-ip"]) if source_ip is not None else None,
        from_proxy=from_proxy,
        random_value=non_negative(random_value, flags["--random-value"]),
        client_cert=client_cert or ("validated" if principal and scheme in ("https", "tls") else ""),
        principal=spiffe_principal(principal, flags.get("--principal", "--principal")) if principal else None,
        inbound=inbound,
        now=instant(now, flags.get("--now", "--now")) if now else None,
        assumed=(said,) if said else (),
    )


def jwt_header(token: str, headers: Iterable[str], flag: str = "--jwt") -> str:
    """``--jwt TOKEN`` as the header it stands for (``authorization: Bearer TOKEN``). Something that is not a JWT
    (three base64url parts, the first a JSON object) is refused; a JWT Envoy would refuse (expired, a bad signature)
    is traced, jwt_authn says why."""
    import base64
    import json

    token = token.strip()
    shown = token if len(token) <= 24 else token[:20] + "…"
    if token.lower().startswith("bearer "):
        raise ArgumentError(flag, shown, "give the token alone, without `Bearer `")
    if any(h.split(":", 1)[0].strip().lower() == "authorization" for h in headers):
        raise ArgumentError(flag, shown, "-H already sets the Authorization header")
    parts = token.split(".")
    if len(parts) != 3 or not all(re.fullmatch(r"[A-Za-z0-9_-]+=*", p) for p in parts):
        raise ArgumentError(flag, shown, "not a JWT: expected three base64url parts, HEADER.PAYLOAD.SIGNATURE")
    first = parts[0].rstrip("=")
    try:
        decoded = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    except ValueError:
        decoded = None
    if not isinstance(decoded, dict):
        raise ArgumentError(flag, shown, "not a JWT: its first part is not a base64url JSON object")
    return f"authorization: Bearer {token}"


def spiffe_principal(value: str, flag: str = "--principal") -> str:
    """A client certificate's URI SAN as Istio writes it: ``spiffe://TRUST-DOMAIN/ns/NS/sa/SA`` (any path after the
    trust domain is accepted; no spaces or control characters)."""
    text = value.strip()
    if any(c.isspace() for c in text) or _CONTROL.search(text):
        raise ArgumentError(flag, value, "a SPIFFE identity has no spaces or control characters")
    if not text.startswith("spiffe://"):
        raise ArgumentError(flag, value, "a SPIFFE identity, spiffe://TRUST-DOMAIN/ns/NAMESPACE/sa/SERVICE-ACCOUNT")
    domain, _, rest = text[len("spiffe://"):].partition("/")
    if not domain or dns_name_problem(domain) or not rest:
        raise ArgumentError(flag, value, "spiffe://TRUST-DOMAIN/PATH: a trust domain (a DNS name) and a path are "
                                         "needed, e.g. spiffe://cluster.local/ns/default/sa/sleep")
    return text


def instant(value: str, flag: str = "--now") -> datetime:
    """A moment as ISO 8601 (``2026-12-07T21:00:00Z``, a date alone is its midnight UTC); no zone means UTC."""
    from datetime import UTC

    text = value.strip()
    try:
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        raise ArgumentError(flag, value, "an ISO 8601 time, e.g. 2026-12-07T21:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
