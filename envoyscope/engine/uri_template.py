"""Path templates: the ``envoy.path.match.uri_template`` matcher and the ``envoy.path.rewrite.uri_template``
rewriter (Envoy's ``UriTemplate::convertPathPatternSyntaxToRegex``, ``UriTemplateMatcher::match`` and
``UriTemplateRewriter::rewritePath``).

A template is ``/`` then segments separated by ``/``: literals (RFC 3986 pchars), ``*`` (one non-empty
segment), ``**`` (any text, ``/`` included, possibly empty; nothing that globs may follow it) and variables
``{name}`` (= ``{name=*}``) / ``{name=a/*/**}`` whose match may span several segments. A literal may run into a
variable (``v{n}``), a variable may carry a literal after it (``{file}.json``), a glob only a final suffix
(``/**.css``); a trailing ``/`` is kept, ``//`` is refused. Envoy turns the template into an RE2 regex with one
named group per variable and matches it against the whole path without query and fragment, case-sensitively
whatever ``case_sensitive`` says. Which templates Envoy 1.40 accepts was checked against it
(tests/proof/test_http_routing_vs_envoy.py). A rewrite template is literals
and ``{name}`` references; Envoy joins the literals with the captured text and keeps the query string.
Templates Envoy rejects (bad literal, repeated or too many variables, a glob after ``**``) match nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import re2

# Envoy 1.40's kLiteral: RFC 3986 pchars (unreserved, pct-encoded, sub-delims, `:`, `@`), `=` and `*` included.
_PCHAR = "a-zA-Z0-9\\-._~%!$&'()+,;:@=*"
_ONE_SEGMENT = f"[{_PCHAR}]+"
_ANY_TEXT = f"[{_PCHAR}/]*"
_MAX_VARIABLES = 5
_MAX_NAME = 16
_NAME = "[a-zA-Z][a-zA-Z0-9_]*"


class TemplateError(ValueError):
    """A template Envoy would reject when loading the route (so no request matches it)."""


@dataclass(frozen=True, slots=True)
class UriTemplate:
    template: str
    regex: str
    variables: tuple[str, ...]


def _valid_literal(text: str, what: str = "literal") -> str:
    """A literal as Envoy writes it into the regex: only ``$ ( ) + .`` are escaped (a ``*`` stays a repetition)."""
    if re2.fullmatch(f"[{_PCHAR}]+", text) is None:
        raise TemplateError(f"`{text}` is not a valid {what}")
    for char in "$()+.":
        text = text.replace(char, "\\" + char)
    return text


class _Parser:
    """Envoy 1.40's ``parsePathPatternSyntax``, as observed against the real Envoy: segments separated by ``/``;
    a segment is ``*`` / ``**`` (optionally followed by a literal suffix that must end the template), a literal
    (which may run into a variable: ``a{b}``), or a variable (optionally followed by a literal in the same
    segment: ``{name}.json``)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.text_glob = False

    def glob(self, text_glob: bool) -> str:
        """Envoy's ``validateNoOperatorAfterTextGlob``: nothing that globs may follow ``**``."""
        if self.text_glob:
            raise TemplateError("a glob follows `**`")
        self.text_glob = text_glob
        return _ANY_TEXT if text_glob else _ONE_SEGMENT

    def variable(self, text: str) -> tuple[str, str]:
        """``{name}`` or ``{name=match}`` at the start of ``text``: (regex, rest)."""
        body, close, rest = text[1:].partition("}")
        if not close:
            raise TemplateError("unmatched `{`")
        name, eq, match = body.partition("=")
        if re2.fullmatch(_NAME, name) is None or len(name) > _MAX_NAME:
            raise TemplateError(f"`{name}` is not a valid variable name")
        if name in self.names:
            raise TemplateError(f"variable `{name}` is repeated")
        self.names.append(name)
        if len(self.names) > _MAX_VARIABLES:
            raise TemplateError(f"more than {_MAX_VARIABLES} variables")
        if not eq:
            return f"(?P<{name}>{self.glob(False)})", rest
        if not match:
            raise TemplateError(f"variable `{name}` has an empty match")
        parts = []
        for piece in match.split("/"):
            if piece in ("*", "**"):
                parts.append(self.glob(piece == "**"))
            elif piece.startswith("*"):
                raise TemplateError(f"`{piece}` in variable `{name}`: a glob must be a whole segment")
            else:
                parts.append(_valid_literal(piece))
        return f"(?P<{name}>{'/'.join(parts)})", rest

    def parse(self, template: str) -> str:
        if re2.fullmatch("/[[:graph:]]*", template) is None:
            raise TemplateError("a template starts with `/` and has no spaces")
        rest = template[1:]
        regex = "/"
        while rest:
            if rest[0] == "*":
                text_glob = rest.startswith("**")
                piece, rest = self.glob(text_glob), rest[2 if text_glob else 1:]
                if rest and rest[0] != "/":
                    suffix, _, after = rest.partition("/")
                    if after or rest.endswith("/"):
                        raise TemplateError(f"`{rest}` after a glob: a suffix must end the template")
                    piece, rest = piece + _valid_literal(suffix), ""
            elif rest[0] == "{":
                piece, rest = self.variable(rest)
                if rest and rest[0] != "/":
                    suffix = rest.split("/", 1)[0]
                    piece, rest = piece + _valid_literal(suffix, "suffix literal"), rest[len(suffix):]
            else:
                head = rest.split("/", 1)[0].split("{", 1)[0]
                if not head:
                    raise TemplateError("an empty segment (`//`)")
                piece, rest = _valid_literal(head), rest[len(head):]
                if rest.startswith("{"):
                    regex += piece
                    continue
            regex += piece
            if rest:  # a `/` follows: the next segment (or a trailing `/`)
                regex += "/"
                rest = rest[1:]
        return regex


def parse_template(template: str) -> UriTemplate:
    """The regex Envoy matches for ``template`` (``parsePathPatternSyntax`` then ``toRegexPattern``)."""
    parser = _Parser()
    return UriTemplate(template, parser.parse(template), tuple(parser.names))


def path_template(match: dict[str, Any]) -> str:
    """The ``path_template`` of a route match's ``path_match_policy`` (``envoy.path.match.uri_template``)."""
    return str(((match.get("path_match_policy") or {}).get("typed_config") or {}).get("path_template", ""))


def template_match(template: str, path_only: str) -> tuple[bool, dict[str, str], str]:
    """(matched, captured variables, why not) for the path without query or fragment."""
    try:
        parsed = parse_template(template)
    except TemplateError as exc:
        return False, {}, str(exc)
    found = re2.fullmatch(parsed.regex, path_only)
    if found is None:
        return False, {}, ""
    return True, {name: str(found.group(name)) for name in parsed.variables}, ""


def parse_rewrite(rewrite: str) -> list[tuple[str, str]]:
    """``parseRewritePattern``: [("literal", text) | ("variable", name)]."""
    if not rewrite.startswith("/") or "//" in rewrite:
        raise TemplateError("a rewrite template starts with `/` and has no `//`")
    out: list[tuple[str, str]] = []
    rest = rewrite
    while rest:
        head, brace, tail = rest.partition("{")
        if head:
            if re2.fullmatch(f"[{_PCHAR}/]+", head) is None:
                raise TemplateError(f"`{head}` is not a valid rewrite literal")
            out.append(("literal", head))
        if not brace:
            break
        name, close, rest = tail.partition("}")
        if not close:
            raise TemplateError("unmatched `{`")
        if re2.fullmatch("[a-zA-Z][a-zA-Z0-9_]*", name) is None:
            raise TemplateError(f"`{name}` is not a valid variable name")
        out.append(("variable", name))
    return out


def rewrite_problem(match_template: str, rewrite: str) -> str:
    """Why Envoy refuses this match/rewrite pair when loading the route ("" when it accepts it): either template
    invalid, or the rewrite names a variable the match does not capture (``isValidSharedVariableSet``)."""
    try:
        names = parse_template(match_template).variables
        pieces = parse_rewrite(rewrite)
    except TemplateError as exc:
        return str(exc)
    missing = [text for kind, text in pieces if kind == "variable" and text not in names]
    return f"the rewrite uses `{missing[0]}`, which the path template does not capture" if missing else ""


def rewrite_path(match_template: str, rewrite: str, path: str) -> str | None:
    """The path after ``UriTemplateRewriter::rewritePath``, the query kept; None when it does not apply."""
    cut = min((i for i in (path.find("?"), path.find("#")) if i >= 0), default=len(path))
    path_only, query = path[:cut], path[cut:]
    ok, captured, _ = template_match(match_template, path_only)
    if not ok or rewrite_problem(match_template, rewrite):
        return None
    new = "".join(captured[text] if kind == "variable" else text for kind, text in parse_rewrite(rewrite))
    return new + query if new else None
