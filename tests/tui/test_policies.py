"""The TUI's Policies screen (`p`) lists the current proxy's RBAC policies in Envoy's order, with each one's
principals and permissions in words; a trace screen shows one step per HTTP filter, with the deciding rule."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Static, Tree

from envoyscope.engine.request import TraceRequest
from envoyscope.engine.trace import trace
from envoyscope.sources.files import load_sources
from tests.conftest import SAMPLES
from tests.tui.helpers import SIZE, app_on, loaded, until

AUTHZ = SAMPLES / "authz-deny"


def test_policies_screen_lists_the_rbac_policies() -> None:
    async def go() -> None:
        from envoyscope.tui.policies_view import PoliciesScreen

        app = app_on(str(AUTHZ / "httpbin.config_dump.json"))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("p")
            screen = app.screen
            assert isinstance(screen, PoliciesScreen)
            table = screen.query_one(DataTable)
            names = [str(table.get_row_at(i)[3]) for i in range(table.row_count)]
            assert names == ["ns[web]-policy[deny-post]-rule[0]", "ns[web]-policy[allow-curl]-rule[0]",
                             "ns[web]-policy[allow-health]-rule[0]"]
            table.move_cursor(row=1)
            await pilot.pause()
            detail = str(screen.query_one("#policies-detail", Static).render())
            assert "principal exact `spiffe://cluster.local/ns/default/sa/curl`" in detail
            await pilot.press("escape")
            assert not isinstance(app.screen, PoliciesScreen)
    asyncio.run(go())


def test_trace_screen_shows_each_http_filter_and_the_denial() -> None:
    async def go() -> None:
        from envoyscope.tui.trace_view import TraceForm, TraceScreen

        dumps = load_sources([str(AUTHZ)])
        result = trace(TraceRequest(host="httpbin.web.svc.cluster.local", port=8000, ip="10.96.50.51",
                                    path="/post", method="POST", from_proxy="sleep"), dumps)
        app = app_on(str(AUTHZ))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            form = TraceForm(to="httpbin.web.svc.cluster.local:8000", ip="10.96.50.51", path="/post",
                             result=result, dumps=dumps)
            app.push_screen(TraceScreen(form, []))
            await until(pilot, lambda: isinstance(app.screen, TraceScreen) and bool(
                app.screen.query("#trace-tree")) and bool(app.screen.query_one("#trace-tree", Tree).root.children),
                "the trace tree")
            tree = app.screen.query_one("#trace-tree", Tree)
            labels = []

            def walk(node: object) -> None:
                labels.append(str(node.label))  # type: ignore[attr-defined]
                for child in node.children:  # type: ignore[attr-defined]
                    walk(child)
            walk(tree.root)
            filters = [label for label in labels if label.startswith("http filter")]
            assert len(filters) == 1 and "ns[web]-policy[deny-post]-rule[0]" in filters[0]
            assert any("rbac_access_denied_matched_policy[ns[web]-policy[deny-post]-rule[0]]" in label
                       for label in labels)
    asyncio.run(go())


def _labels(tree: Tree) -> list[str]:  # type: ignore[type-arg]
    labels: list[str] = []

    def walk(node: object) -> None:
        labels.append(str(node.label))  # type: ignore[attr-defined]
        for child in node.children:  # type: ignore[attr-defined]
            walk(child)
    walk(tree.root)
    return labels


def test_trace_form_inbound_with_a_principal_shows_the_deciding_rbac_step() -> None:
    """The form's inbound box, principal and JWT fields reach the trace as --inbound/--principal/--jwt do: sleep's
    identity at httpbin's inbound is refused by the ALLOW filter (no policy names sleep), curl's goes through; a
    principal that is not a SPIFFE identity is refused in the CLI's words, under the form's name for it."""
    async def go() -> None:
        from textual.widgets import Checkbox, Input

        from envoyscope.tui.trace_view import TraceScreen

        app = app_on(str(AUTHZ / "httpbin.config_dump.json"))
        async with app.run_test(size=SIZE) as pilot:
            await loaded(pilot)
            await pilot.press("t")
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, TraceScreen)
            screen.query_one("#to", Input).value = "httpbin.web:8000"
            screen.query_one("#inbound", Checkbox).value = True
            screen.query_one("#principal", Input).value = "spiffe://cluster.local/ns/default/sa/sleep"
            await pilot.click("#run")
            await until(pilot, lambda: screen.result is not None, "the trace")
            result = screen.result
            assert result is not None and result.request.inbound
            assert result.outcome.kind == "denied"
            assert result.outcome.response_code_details == "rbac_access_denied_matched_policy[none]"
            filters = [x for x in _labels(screen.query_one("#trace-tree", Tree)) if x.startswith("http filter")]
            assert len(filters) == 2 and "(DENY, 1 policies)" in filters[0] and filters[0].endswith(": allowed")
            assert "(ALLOW, 2 policies)" in filters[1] and "rbac_access_denied_matched_policy[none]" in filters[1]
            before = result
            screen.query_one("#principal", Input).value = "spiffe://cluster.local/ns/default/sa/curl"
            await pilot.click("#run")
            await until(pilot, lambda: screen.result is not before, "the second trace")
            assert screen.result is not None and screen.result.outcome.kind == "mesh_internal"
            before = screen.result
            screen.query_one("#principal", Input).value = "sleep"
            await pilot.click("#run")
            await pilot.pause()
            assert screen.result is before
            assert any(n.message.startswith("principal 'sleep': a SPIFFE identity") for n in app._notifications)
    asyncio.run(go())
