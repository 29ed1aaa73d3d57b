"""What a pod's JSON says about its Envoy, table-driven: the kind (ingress/egress gateway, Gateway-API gateway,
waypoint, sidecar), the admin port Istio gives it, its revision, its IPs and owners; and Deployment selectors as
the ``labelSelector`` string. Pure functions of the pod as the API returns it: no Envoy, no server."""

from __future__ import annotations

from typing import Any

import pytest

from envoyscope.sources.kube import admin_port, classify, envoy_pod, label_selector, revision
from tests.live.fake_apiserver import pod

GW_NAME = "gateway.networking.k8s.io/gateway-name"
GW_CLASS = "gateway.networking.k8s.io/gateway-class-name"
MANAGED = "gateway.istio.io/managed"


@pytest.mark.parametrize(("labels", "containers", "kind"), [
    ({"app": "istio-ingressgateway", "istio": "ingressgateway"}, ["istio-proxy"], "ingressgateway"),
    ({"app": "istio-egressgateway", "istio": "egressgateway"}, ["istio-proxy"], "egressgateway"),
    ({GW_NAME: "web", GW_CLASS: "istio", MANAGED: "istio.io-gateway-controller"}, ["istio-proxy"], "gateway"),
    ({GW_NAME: "web"}, ["istio-proxy"], "gateway"),  # a Gateway-API gateway of any class
    ({GW_NAME: "waypoint", GW_CLASS: "istio-waypoint", MANAGED: "istio.io-mesh-controller"}, ["istio-proxy"],
     "waypoint"),
    ({GW_NAME: "reviews-wp", GW_CLASS: "istio-waypoint"}, ["istio-proxy"], "waypoint"),  # named freely, by class
    ({GW_NAME: "east", MANAGED: "istio.io-mesh-controller"}, ["istio-proxy"], "waypoint"),  # older Istio: by manager
    ({"app": "sleep", "istio.io/rev": "default"}, ["sleep", "istio-proxy"], "sidecar"),
    ({"app": "sleep"}, ["istio-proxy"], "sidecar"),  # an app with only the proxy container is still a workload
    ({}, ["istio-proxy"], "gateway"),  # a bare istio-proxy pod with no app: a hand-deployed gateway
    ({"istio": "pilot", "app": "istiod"}, ["discovery"], None),
    ({"app": "nginx"}, ["nginx"], None),
])
def test_classify(labels: dict[str, str], containers: list[str], kind: str | None) -> None:
    assert classify(pod("ns", "p-1", ip="10.0.0.1", labels=labels, containers=containers)) == kind


@pytest.mark.parametrize(("annotations", "port"), [
    ({}, 15000),
    ({"proxy.istio.io/config": "proxyAdminPort: 15999\n"}, 15999),
    ({"proxy.istio.io/config": '{"proxyAdminPort": 16000, "concurrency": 2}'}, 16000),  # JSON is YAML too
    ({"proxy.istio.io/config": "concurrency: 2\n"}, 15000),
    ({"proxy.istio.io/config": "proxyAdminPort: nope"}, 15000),
    ({"proxy.istio.io/config": "proxyAdminPort: 99999"}, 15000),
    ({"proxy.istio.io/config": ": : :"}, 15000),  # not YAML
])
def test_admin_port(annotations: dict[str, str], port: int) -> None:
    assert admin_port(annotations) == port


@pytest.mark.parametrize(("labels", "annotations", "expected"), [
    ({"istio.io/rev": "1-24-0"}, {}, "1-24-0"),
    ({}, {"sidecar.istio.io/status": '{"revision": "canary", "containers": ["istio-proxy"]}'}, "canary"),
    ({"istio.io/rev": "stable"}, {"sidecar.istio.io/status": '{"revision": "canary"}'}, "stable"),
    ({}, {"sidecar.istio.io/status": "not json"}, "default"),
    ({}, {}, "default"),
])
def test_revision(labels: dict[str, str], annotations: dict[str, str], expected: str) -> None:
    assert revision(labels, annotations) == expected


def test_envoy_pod_columns() -> None:
    doc = pod("shop", "web-f8d9c7b6d-q2w7x", ip="10.244.1.5", ips=["10.244.1.5", "fd00::5"], node="node-7",
              labels={"app": "web", "pod-template-hash": "f8d9c7b6d"}, containers=["web", "istio-proxy"],
              annotations={"proxy.istio.io/config": "proxyAdminPort: 15001"}, replica_set="web-f8d9c7b6d")
    found = envoy_pod(doc)
    assert found is not None
    assert (found.kind, found.node, found.ip, found.revision, found.ready, found.phase) == (
        "sidecar", "node-7", "10.244.1.5", "default", "2/2", "Running")
    assert found.ips == ("10.244.1.5", "fd00::5") and found.admin_port == 15001
    assert found.owners == (("ReplicaSet", "web-f8d9c7b6d"),) and not found.is_gateway
    pending = envoy_pod(pod("ns", "gw", ip="", labels={"istio": "ingressgateway"}, containers=["istio-proxy"],
                            phase="Pending"))
    assert pending is not None and pending.ips == () and pending.ready == "0/1" and pending.is_gateway


@pytest.mark.parametrize(("selector", "expected"), [
    ({"matchLabels": {"app": "web", "version": "v1"}}, "app=web,version=v1"),
    ({"matchLabels": {"app": "web"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["a", "b"]},
        {"key": "canary", "operator": "DoesNotExist"},
        {"key": "zone", "operator": "NotIn", "values": ["x"]},
        {"key": "team", "operator": "Exists"}]}, "app=web,tier in (a,b),!canary,zone notin (x),team"),
    ({}, ""),
])
def test_label_selector(selector: dict[str, Any], expected: str) -> None:
    assert label_selector(selector) == expected
