"""Bad input never gives a traceback: one line on stderr naming the file, the JSON path and the problem; exit 2.

Each case runs ``python -m envoyscope clusters FILE`` in a subprocess, as a user would.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ADMIN = "type.googleapis.com/envoy.admin.v3."
VALID = {"configs": [{"@type": ADMIN + "ClustersConfigDump", "dynamic_active_clusters": [
    {"cluster": {"name": "outbound|80||a.local", "type": "EDS"}}]}]}


def _clusters(entries: object, key: str = "dynamic_active_clusters") -> dict:
    return {"configs": [{"@type": ADMIN + "ClustersConfigDump", key: entries}]}


def run_cli(cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "envoyscope", *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60, check=False)


# (file name, content, words the one error line must hold)
CASES = [
    ("empty.json", b"", ["empty.json", "file is empty"]),
    ("blank.json", b"  \n\t\n", ["blank.json", "file is empty"]),
    ("garbage.json", bytes(range(256)) * 8, ["garbage.json", "binary data"]),
    ("truncated.json", json.dumps(VALID).encode()[:60], ["truncated.json", "invalid JSON", "truncated", "line 1"]),
    ("trailing-comma.json", b'{"configs": [],}', ["trailing-comma.json", "invalid JSON"]),
    ("not-a-dump.json", b'{"hello": "world"}', ["not-a-dump.json", "at $", "not an Envoy dump"]),
    ("number.json", b"42", ["number.json", "at $", "not an Envoy dump", "a number"]),
    ("configs-5.json", json.dumps({"configs": 5}).encode(), ["configs-5.json", "at configs:", "expected a list"]),
    ("clusters-5.json", json.dumps(_clusters(5)).encode(),
     ["clusters-5.json", "at configs[0].dynamic_active_clusters:", "expected a list, got a number"]),
    ("cluster-string.json", json.dumps(_clusters([{"cluster": "outbound|80||a.local"}])).encode(),
     ["cluster-string.json", "at configs[0].dynamic_active_clusters[0].cluster:", "expected an object, got a string"]),
    ("static-string.json", json.dumps(_clusters(["x"], "static_clusters")).encode(),
     ["static-string.json", "at configs[0].static_clusters[0]:", "expected an object"]),
    ("list-of-junk.json", json.dumps([{"name": "a", "type": "EDS"}, "oops"]).encode(),
     ["list-of-junk.json", "at [1]:", "expected an object, got a string"]),
    ("broken.json.gz", b"\x1f\x8b\x08\x00garbage", ["broken.json.gz", "broken gzip data"]),
]


@pytest.mark.parametrize("name,content,words", CASES, ids=[c[0] for c in CASES])
def test_bad_file_gives_one_line_and_exit_2(tmp_path: Path, name: str, content: bytes, words: list[str]) -> None:
    (tmp_path / name).write_bytes(content)
    result = run_cli(tmp_path, "clusters", name)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("envoyscope: error: ")
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


def test_field_of_the_wrong_shape_names_the_resource(tmp_path: Path) -> None:
    """A resource whose inner field has a shape Envoy never writes: the error names that field's JSON path."""
    socket = {"name": "envoy.transport_sockets.tls", "typed_config": "not an object"}
    doc = _clusters([{"cluster": {"name": "good", "type": "STATIC"}},
                     {"cluster": {"name": "bad", "type": "STATIC", "transport_socket": socket}}])
    (tmp_path / "odd.json").write_text(json.dumps(doc))
    result = run_cli(tmp_path, "clusters", "odd.json", "-o", "wide")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert ("odd.json: at configs[0].dynamic_active_clusters[1].cluster.transport_socket.typed_config: "
            "expected an object, got a string") in result.stderr


@pytest.mark.parametrize("argv,words", [
    (["missing.json"], ["missing.json", "no such file"]),
    (["empty-folder"], ["empty-folder", "no dump files"]),
])
def test_missing_inputs(tmp_path: Path, argv: list[str], words: list[str]) -> None:
    (tmp_path / "empty-folder").mkdir()
    result = run_cli(tmp_path, "clusters", *argv)
    assert (result.returncode, result.stdout) == (2, "")
    assert len(result.stderr.splitlines()) == 1 and all(word in result.stderr for word in words)


def test_missing_sections_degrade_with_a_note(tmp_path: Path) -> None:
    """A dump without a clusters section still prints (an empty table) and says why, exit 0."""
    doc = {"configs": [{"@type": ADMIN + "BootstrapConfigDump", "bootstrap": {"node": {"id": "x"}}},
                       {"@type": ADMIN + "ListenersConfigDump"}]}
    (tmp_path / "partial.json.gz").write_bytes(gzip.compress(json.dumps(doc).encode()))
    result = run_cli(tmp_path, "clusters", "partial.json.gz")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["SERVICE", "FQDN", "PORT", "SUBSET", "DIRECTION", "TYPE", "DESTINATION", "RULE"]
    assert result.stderr == "== envoy x  (partial.json.gz)\nenvoyscope: note: no clusters section in this dump\n"
    result = run_cli(tmp_path, "all", "partial.json.gz")
    assert result.returncode == 0 and "Envoy Version:" in result.stdout
    assert "no routes section in this dump" in result.stderr and "Traceback" not in result.stderr


# --- wrong shapes deep inside a resource: caught where the dump is parsed, and at the trace boundary --------

SLEEP = REPO / "sample_dumps" / "egress-gateway-http" / "sleep.config_dump.json"


def _sleep_with(change: object) -> dict:
    """The egress-gateway-http sidecar dump (captured from a real Envoy) with one part changed by ``change``."""
    doc = json.loads(SLEEP.read_text())
    change(doc)  # type: ignore[operator]
    return doc


def _route_80(doc: dict) -> dict:
    return doc["configs"][5]["dynamic_route_configs"][0]["route_config"]["virtual_hosts"][0]["routes"][0]


def _set_node(doc: dict) -> None:
    doc["configs"][0]["bootstrap"]["node"] = "sidecar~10.244.0.10~sleep.default~default.svc.cluster.local"


def _set_listener_address(doc: dict) -> None:
    doc["configs"][3]["dynamic_listeners"][1]["active_state"]["listener"]["address"] = "0.0.0.0:80"


def _set_route_match(doc: dict) -> None:
    _route_80(doc)["match"] = "/"


def _set_runtime_fraction(doc: dict) -> None:
    # `runtime_fraction` itself is an object, as parsing checks; inside it, `default_value` should be a
    # FractionalPercent object: a field only the trace reads, so only the trace boundary can catch it.
    _route_80(doc)["match"]["runtime_fraction"] = {"default_value": "50%", "runtime_key": "k"}


TRACE = ["--to", "httpbin.org:80"]
SHAPE_CASES = [
    ("node-string", _set_node, ["clusters"], "at configs[0].bootstrap.node: expected an object, got a string"),
    ("node-string-bootstrap", _set_node, ["bootstrap"], "at configs[0].bootstrap.node: expected an object"),
    ("listener-address-string", _set_listener_address, ["trace", *TRACE],
     "at configs[3].dynamic_listeners[1].active_state.listener.address: expected an object, got a string"),
    ("route-match-string", _set_route_match, ["trace", *TRACE],
     "at configs[5].dynamic_route_configs[0].route_config.virtual_hosts[0].routes[0].match: expected an object, "
     "got a string"),
    ("runtime-fraction-string", _set_runtime_fraction, ["trace", *TRACE],
     "at configs[5].dynamic_route_configs[0].route_config.virtual_hosts[0].routes[0].match.runtime_fraction"
     ".default_value: this route config has an unexpected shape: expected an object, got a string"),
]


@pytest.mark.parametrize("name,change,argv,words", SHAPE_CASES, ids=[c[0] for c in SHAPE_CASES])
def test_wrong_shape_inside_a_dump_names_the_field(tmp_path: Path, name: str, change: object, argv: list[str],
                                                   words: str) -> None:
    (tmp_path / "sleep.json").write_text(json.dumps(_sleep_with(change)))
    result = run_cli(tmp_path, argv[0], "sleep.json", *argv[1:])
    assert (result.returncode, result.stdout) == (2, ""), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith("envoyscope: error: sleep.json: ")
    assert words in result.stderr


def test_clusters_json_with_host_statuses_of_the_wrong_shape(tmp_path: Path) -> None:
    doc = {"cluster_statuses": [{"name": "outbound|80||a.local", "host_statuses": [{"address": {"socket_address": {
        "address": "10.0.0.1", "port_value": 80}}}]}, {"name": "b", "host_statuses": "10.0.0.2:80"}]}
    (tmp_path / "proxy.clusters.json").write_text(json.dumps(doc))
    result = run_cli(tmp_path, "endpoints", "proxy.clusters.json")
    assert (result.returncode, result.stdout) == (2, "")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert "proxy.clusters.json: at cluster_statuses[1].host_statuses: expected a list, got a string" in result.stderr
    (tmp_path / "list.json").write_text(json.dumps(doc["cluster_statuses"]))  # the bare list form
    result = run_cli(tmp_path, "endpoints", "list.json")
    assert result.returncode == 2 and "list.json: at [1].host_statuses: expected a list" in result.stderr


def test_a_python_error_on_well_shaped_dumps_is_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    """The trace boundary turns an error into a DumpFormatError only when some resource has a wrong shape."""
    import envoyscope.engine.trace
    from envoyscope.cli import main

    def broken(*args: object, **kwargs: object) -> None:
        raise TypeError("a bug of envoyscope's own")

    monkeypatch.setattr(envoyscope.engine.trace, "trace", broken)
    with pytest.raises(TypeError, match="own"):
        main(["trace", str(SLEEP), *TRACE])


# --- malformed flags: one line naming the flag and what is wrong, exit 2, nothing read or traced ------------

BAD_ARGS = [
    (["trace", "--to", "httpbin.org", "--ip", "10.1.2"], ["--ip '10.1.2'", "Expected 4 octets"]),
    (["trace", "--to", "httpbin.org", "--ip", "10.99.230.256"], ["--ip '10.99.230.256'", "256 (> 255)"]),
    (["trace", "--to", "httpbin.org", "--ip", "1::2::3"], ["--ip '1::2::3'", "not an IPv6 address"]),
    (["trace", "--to", "httpbin.org", "--ip", "::ffff:1.2.3.256"], ["--ip", "not an IPv6 address"]),
    (["trace", "--to", "httpbin.org", "--source-ip", "not-an-ip"], ["--source-ip 'not-an-ip'", "not an IPv4 or"]),
    (["trace", "--to", "httpbin.org", "--source-ip", "010.0.0.1"], ["--source-ip", "Leading zeros"]),
    (["trace", "--to", "httpbin.org:0"], ["--to 'httpbin.org:0'", "1 to 65535"]),
    (["trace", "--to", "httpbin.org:65536"], ["--to", "1 to 65535"]),
    (["trace", "--to", "httpbin.org:http"], ["--to", "port `http`"]),
    (["trace", "--to", ":80"], ["--to ':80'", "the host is empty"]),
    (["trace", "--to", "http bin.org"], ["--to", "no spaces"]),
    (["trace", "--to", "httpbin$.org"], ["--to", "the label `httpbin$`"]),
    (["trace", "--to", "a..org"], ["--to", "empty label"]),
    (["trace", "--to", "10.1.2.300:80"], ["--to '10.1.2.300:80'", "not an IPv4 address"]),
    (["trace", "--to", "[2001:db8::1"], ["--to", "without its `]`"]),
    (["trace", "--to", "mysql", "--scheme", "tcp"], ["--to 'mysql'", "no default port"]),
    (["trace", "--to", "httpbin.org", "-H", "no colon"], ["-H 'no colon'", "expected 'NAME: VALUE'"]),
    (["trace", "--to", "httpbin.org", "-H", "bad name: x"], ["-H", "`bad name` is not a header name"]),
    (["trace", "--to", "httpbin.org", "-H", "x-a: b\r\nx-b: c"], ["-H", "no CR, LF"]),
    (["trace", "--to", "httpbin.org", "-H", ":path: /x"], ["-H", "use --path"]),
    (["trace", "--to", "httpbin.org", "--path", "headers"], ["--path 'headers'", "starts with /"]),
    (["trace", "--to", "httpbin.org", "--path", "/a b"], ["--path '/a b'", "no spaces"]),
    (["trace", "--to", "httpbin.org", "--path", "/a\nb"], ["--path", "no spaces, CR, LF"]),
    (["trace", "--to", "httpbin.org", "--method", "GE T"], ["--method 'GE T'", "token"]),
    (["trace", "--to", "httpbin.org", "--method", "GET/1"], ["--method", "token"]),
    (["trace", "--to", "a.com:443", "--scheme", "tls", "--sni", "a.com:443"], ["--sni 'a.com:443'", "without a port"]),
    (["trace", "--to", "a.com:443", "--scheme", "tls", "--sni", "10.0.0.1"], ["--sni", "not an IP address"]),
    (["trace", "--to", "a.com:443", "--scheme", "tls", "--sni", "a b"], ["--sni", "no spaces"]),
    (["trace", "--to", "a.com:443", "--scheme", "tls", "--alpn", "h2,http /1.1"], ["--alpn", "not an ALPN"]),
    (["trace", "--to", "httpbin.org", "--random-value", "-1"], ["--random-value '-1'", "0 or more"]),
    (["trace", "--to", "httpbin.org", "--random-value", "x"], ["--random-value", "invalid int value"]),
    (["trace", "--to", "httpbin.org", "--now", "tomorrow"], ["--now 'tomorrow'", "ISO 8601"]),
    (["trace", "--to", "httpbin.org", "--principal", "sa/sleep"], ["--principal 'sa/sleep'", "spiffe://"]),
    (["trace", "--to", "httpbin.org", "--jwt", "a.b"], ["--jwt 'a.b'", "three base64url parts"]),
    (["trace", "--to", "httpbin.org", "--proxy", "gw=10.0.0.300"], ["--proxy 'gw=10.0.0.300'", "IPv4"]),
    (["trace", "--to", "httpbin.org", "--proxy", "gw=10.0.0.3:99999"], ["--proxy", "1 to 65535"]),
    (["trace", "--to", "httpbin.org", "--proxy", "gw"], ["--proxy 'gw'", "NAME=IP"]),
    (["trace", "--to", "httpbin.org", "--admin", "http://127.0.0.1:99999"], ["--admin", "out of range"]),
    (["trace", "--to", "httpbin.org", "--admin", "ftp://127.0.0.1"], ["--admin 'ftp://127.0.0.1'", "http://"]),
    (["clusters", "--admin", "http://10.1.2.300:15000"], ["--admin 'http://10.1.2.300:15000'", "IPv4"]),
    (["clusters", "--admin", "http://:15000"], ["--admin", "names no host"]),
    (["clusters", "--admin", "127.0.0.1:15000/?x=1"], ["--admin", "no ?query"]),
    (["clusters", "--pod", "default/x", "--admin-port", "0"], ["--admin-port '0'", "1 to 65535"]),
    (["clusters", "--admin", "127.0.0.1:15000", "--admin-timeout", "0"], ["--admin-timeout", "more than 0"]),
    (["clusters", "--port", "70000"], ["--port '70000'", "1 to 65535"]),
    (["listeners", "--address", "10.0.0.300"], ["--address '10.0.0.300'", "IPv4"]),
    (["endpoints", "--address", "10.0.0.1:0"], ["--address", "1 to 65535"]),
    (["capture", "--admin", "http://[::1:15000", "-o", "x.tar.gz"], ["--admin", "not a URL"]),
    (["tui", "--proxy", "gw=not-an-ip"], ["--proxy 'gw=not-an-ip'", "not an IPv4 or IPv6"]),
    (["clusters", "--pod", "default/Sleep_1"], ["--pod 'default/Sleep_1'", "lower-case letters"]),
    (["clusters", "--pod", "a/b/c"], ["--pod 'a/b/c'", "NS/NAME"]),
    (["capture", "--pod", "bad_ns/x", "-o", "x.tar.gz"], ["--pod", "a namespace is"]),
    (["pods", "-n", "Istio System"], ["--namespace 'Istio System'", "a namespace is"]),
]


@pytest.mark.parametrize("argv,words", BAD_ARGS, ids=[" ".join(c[0][2:] or c[0]) for c in BAD_ARGS])
def test_bad_argument_gives_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                argv: list[str], words: list[str]) -> None:
    import envoyscope.cli_summary
    import envoyscope.cli_trace
    import envoyscope.cli_tui
    import envoyscope.engine.trace
    from envoyscope.cli import main

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("a malformed argument must fail before anything is read or traced")

    monkeypatch.setattr(envoyscope.engine.trace, "trace", never)
    for module in (envoyscope.cli_summary, envoyscope.cli_trace, envoyscope.cli_tui):
        monkeypatch.setattr(module, "load_dumps", never)
    try:
        code = main([*argv[:1], str(SLEEP), *argv[1:]] if argv[0] in ("trace", "clusters") else argv)
    except SystemExit as exc:  # argparse's own checks (a number that is not one)
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("envoyscope: error: "), err
    for word in words:
        assert word in lines[0]


def test_bad_argument_in_a_subprocess_as_a_user_sees_it(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "trace", str(SLEEP), "--to", "httpbin.org:80", "--ip", "10.1.2")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("envoyscope: error: --ip '10.1.2': not an IPv4 address (Expected 4 octets in "
                             "'10.1.2'; four numbers 0-255, e.g. 10.1.2.3)\n")
    result = run_cli(tmp_path, "trace", str(SLEEP))  # argparse's own errors are one line too
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "--to" in result.stderr


@pytest.mark.parametrize("argv", [
    ["--to", "httpbin.org", "--ip", "[2001:db8::1]", "--source-ip", "::ffff:10.0.0.1"],
    ["--to", "[2001:db8::1]:8080", "-H", ":authority: httpbin.org", "-H", "x-empty:", "--path", "*"],
    ["--to", "api_v2.svc.cluster.local.:80", "--method", "purge", "--proxy", "gw=[2001:db8::2]:443"],
])
def test_good_arguments_still_trace(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    from envoyscope.cli import main

    assert main(["trace", str(SLEEP), *argv, "-o", "json"]) == 0, capsys.readouterr().err
    assert '"outcome"' in capsys.readouterr().out
