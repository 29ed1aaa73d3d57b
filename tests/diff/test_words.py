"""Each change in words, and `touching` (the changes of a resource and its parts)."""

from __future__ import annotations

from envoyscope.engine.diff import Change, FieldChange, touching
from envoyscope.engine.diff.words import sentences


def test_sentences() -> None:
    cases = [
        (Change("route", "80/web:80/r1", "modified", (FieldChange("position", 1, 2),)),
         "route `r1` of virtual host `80/web:80` moved from position 1 to 2"),
        (Change("cluster", "outbound|443||x", "modified", (FieldChange("connect_timeout", "5s", "10s"),)),
         "cluster `outbound|443||x` connect_timeout 5s → 10s"),
        (Change("filter_chain", "l/c", "modified", (FieldChange("use_proxy_proto", True, False),)),
         "filter chain `c` of listener `l` use_proxy_proto true → false"),
        (Change("virtual_host", "80/web:80", "modified", (FieldChange("domains", ["a", "b"], ["a", "c"]),)),
         "virtual host `web:80` of route configuration `80` domains: added c; removed b"),
        (Change("endpoint", "c", "modified", (FieldChange("endpoints[10.0.0.1:80]", {"weight": 1}, None),)),
         "endpoints of cluster `c`: 10.0.0.1:80 removed (EDS)"),
        (Change("route", "80/web:80/r0", "added", (FieldChange("position", None, 1),)),
         "route `r0` of virtual host `80/web:80` added at position 1"),
        (Change("secret", "default", "removed"), "secret `default` removed"),
        (Change("listener", "l", "modified", (FieldChange("listener_filters.order", ["a", "b"], ["b", "a"]),)),
         "listener `l` listener_filters order a, b → b, a"),
    ]
    for change, words in cases:
        assert sentences(change) == [words]


def test_touching() -> None:
    changes = [Change("route_config", "80", "modified"), Change("virtual_host", "80/a", "modified"),
               Change("route", "80/a/r", "modified"), Change("route", "8080/a/r", "modified"),
               Change("cluster", "c", "modified"), Change("endpoint", "c", "modified"),
               Change("cluster", "cc", "added")]
    assert [c.name for c in touching(changes, "route_config", "80")] == ["80", "80/a", "80/a/r"]
    assert [c.kind for c in touching(changes, "cluster", "c")] == ["cluster", "endpoint"]
    assert touching(changes, "listener", "80") == []
