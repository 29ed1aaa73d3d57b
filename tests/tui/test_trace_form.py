"""The trace form checks its fields by the CLI's rules: a malformed one is a notification naming the field, and
nothing is traced."""

from __future__ import annotations

import asyncio

import pytest
from textual.widgets import Input

from envoyscope.errors import ArgumentError
from envoyscope.tui.trace_view import TraceForm, TraceScreen
from tests.conftest import SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, messages, until

MTLS = str(SAMPLES / "egress-mtls-subsets")


@pytest.mark.parametrize("fields,words", [
    ({"ip": "10.1.2"}, "destination IP '10.1.2': not an IPv4 address"),
    ({"to": "10.1.2.300:80"}, "host:port '10.1.2.300:80'"),
    ({"path": "no-slash"}, "path 'no-slash': a path starts with /"),
    ({"headers": "x-a: 1; bad name: 2"}, "header ' bad name: 2'"),
    ({"sni": "a.com:443", "scheme": "tls"}, "SNI 'a.com:443'"),
])
def test_form_fields_are_checked(fields: dict[str, str], words: str) -> None:
    form = TraceForm(to="nginx.external.svc.cluster.local:80")
    for name, value in fields.items():
        setattr(form, name, value)
    with pytest.raises(ArgumentError) as caught:
        form.request()
    assert str(caught.value).startswith(words)


def test_a_bad_field_is_a_notification_and_nothing_is_traced() -> None:
    async def go() -> None:
        app = app_on(MTLS)
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("t")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TraceScreen)
            screen.query_one("#to", Input).value = "nginx.external.svc.cluster.local:80"
            screen.query_one("#ip", Input).value = "10.99.230.256"
            await pilot.click("#run")
            await until(pilot, lambda: messages(app), "a notification")
            assert any(m.startswith("destination IP '10.99.230.256': not an IPv4 address") for m in messages(app))
            assert any(n.title == "Invalid input" for n in app._notifications)
            assert screen.result is None
    asyncio.run(go())
