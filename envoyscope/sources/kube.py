"""Kubernetes: find the pods that run an Envoy, and reach their admin port through a port-forward.

Uses the official kubernetes client (kubeconfig, ``--context``, or in-cluster config). The port-forward is the
client's own WebSocket ``pods/portforward`` (``v4.channel.k8s.io``), no kubectl; httpx speaks HTTP over the
forwarded socket through an httpcore network backend, so no local port is ever left listening.

The admin port is the pod's own: ``proxyAdminPort`` of the ``proxy.istio.io/config`` annotation, else Istio's 15000;
``--admin-port`` overrides both. ``deploy/NAME`` reads the Deployment (apps/v1) for its selector and keeps the pods
whose ReplicaSet owner is ``NAME-<pod-template-hash>``, so ``sleep`` never picks a pod of ``sleep-v2``.
"""

from __future__ import annotations

import json
import os
import re
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpcore
import httpx

from envoyscope.errors import KubeError
from envoyscope.model.dump import ServicePort

if TYPE_CHECKING:
    from envoyscope.sources.admin import AdminClient, LiveDump

ISTIO_ADMIN_PORT = 15000
GATEWAY_LABELS = ("istio", "gateway.networking.k8s.io/gateway-name", "gateway.istio.io/managed")


@dataclass(frozen=True, slots=True)
class EnvoyPod:
    namespace: str
    name: str
    kind: str  # sidecar | ingressgateway | egressgateway | gateway | waypoint
    node: str
    ip: str
    revision: str
    ready: str  # "2/2"
    phase: str
    admin_port: int = ISTIO_ADMIN_PORT
    labels: tuple[tuple[str, str], ...] = ()
    ips: tuple[str, ...] = ()  # status.podIPs (IPv4 and IPv6 of a dual-stack pod), else podIP
    owners: tuple[tuple[str, str], ...] = ()  # (kind, name) of metadata.ownerReferences
    ports: tuple[tuple[str, int], ...] = ()  # the containers' named ports (name, containerPort), for a targetPort name

    @property
    def is_gateway(self) -> bool:
        """An ingress, egress or Gateway-API gateway (waypoints are the mesh's, not gateways)."""
        return self.kind in ("ingressgateway", "egressgateway", "gateway")


def _config(kubeconfig: str | None, context: str | None) -> Any:
    from kubernetes import client, config
    from kubernetes.config import incluster_config
    from kubernetes.config.config_exception import ConfigException

    in_cluster = not (kubeconfig or context) and _in_cluster()
    mount = os.path.dirname(incluster_config.SERVICE_TOKEN_FILENAME)
    try:
        if in_cluster:
            config.load_incluster_config()
        else:
            config.load_kube_config(config_file=kubeconfig, context=context)
    except ConfigException as exc:
        text = str(exc)
        if in_cluster:
            raise KubeError(f"in-cluster configuration (KUBERNETES_SERVICE_HOST is set): {text.rstrip('.')} "
                            f"(the service account's files in {mount}) — mount them, or pass --kubeconfig") from exc
        if "context" in text.lower() and context:
            raise KubeError(f"kubeconfig: context `{context}` not found ({text})") from exc
        raise KubeError(f"no usable Kubernetes configuration: {text} — set KUBECONFIG or pass --kubeconfig") from exc
    except OSError as exc:  # e.g. a token the pod's user may not read
        if in_cluster:
            raise KubeError(f"in-cluster configuration: cannot read {exc.filename or mount} "
                            f"({exc.strerror or type(exc).__name__})") from exc
        if not isinstance(exc, FileNotFoundError):
            raise
        raise KubeError(f"kubeconfig {kubeconfig or '~/.kube/config'} not found") from exc
    return client.CoreV1Api()


def _in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def _untrusted(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure somewhere in the chain urllib3 wraps it in (MaxRetryError → SSLError)."""
    todo, seen = [exc], set()
    while todo:
        err = todo.pop()
        if id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, ssl.SSLCertVerificationError):
            return err
        todo += [e for e in (getattr(err, "reason", None), err.__cause__, err.__context__, *err.args)
                 if isinstance(e, BaseException)]
    return None


def _api_error(exc: Exception, what: str) -> KubeError:
    status = getattr(exc, "status", None)
    if status == 403:
        return KubeError(f"{what}: forbidden by RBAC (403) — your user needs `get`/`create` on that resource")
    if status == 404:
        return KubeError(f"{what}: not found (404)")
    untrusted = _untrusted(exc) if status is None else None
    if untrusted is not None:
        return KubeError(f"{what}: the API server's certificate is not trusted "
                         f"({untrusted.verify_message or untrusted.reason}) — is the CA the cluster's? "
                         "(certificate-authority of the kubeconfig, or the service account's ca.crt in a pod)")
    if status is None:
        return KubeError(f"{what}: cannot reach the API server ({type(exc).__name__}: {str(exc)[:160]})")
    return KubeError(f"{what}: the API server answered {status} ({getattr(exc, 'reason', '')})")


def classify(pod: dict[str, Any]) -> str | None:
    """The kind of Envoy a pod runs, or None when it runs none.

    Istio's gateways carry ``istio=ingressgateway|egressgateway``; pods Istio deploys for a Gateway-API Gateway
    carry ``gateway.networking.k8s.io/gateway-name``, and for a waypoint also the class ``istio-waypoint`` (or the
    mesh controller's ``gateway.istio.io/managed``); a sidecar is an injected ``istio-proxy`` beside the app.
    """
    labels = (pod.get("metadata") or {}).get("labels") or {}
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or ()]
    istio = labels.get("istio", "")
    if labels.get("app") == "ztunnel":  # Istio's ambient node proxy: not Envoy, but its admin has /config_dump
        return "ztunnel"
    if istio in ("ingressgateway", "egressgateway"):
        return istio
    gateway_name = labels.get("gateway.networking.k8s.io/gateway-name", "")
    if (labels.get("gateway.networking.k8s.io/gateway-class-name") == "istio-waypoint"
            or labels.get("gateway.istio.io/managed") == "istio.io-mesh-controller"
            or (gateway_name and "waypoint" in gateway_name)):
        return "waypoint"
    if gateway_name:
        return "gateway"
    if "istio-proxy" in containers:
        return "sidecar" if len(containers) > 1 or labels.get("app") else "gateway"
    return None


def admin_port(annotations: dict[str, Any]) -> int:
    """The admin port Istio gives the proxy: ``proxyAdminPort`` of ``proxy.istio.io/config``, else 15000."""
    import yaml

    text = annotations.get("proxy.istio.io/config")
    if not text:
        return ISTIO_ADMIN_PORT
    try:
        config = yaml.safe_load(str(text))
    except yaml.YAMLError:
        return ISTIO_ADMIN_PORT
    port = config.get("proxyAdminPort") if isinstance(config, dict) else None
    return port if isinstance(port, int) and 0 < port < 65536 else ISTIO_ADMIN_PORT


def revision(labels: dict[str, Any], annotations: dict[str, Any]) -> str:
    """The Istio revision: the ``istio.io/rev`` label, else the injector's ``sidecar.istio.io/status``, else default."""
    if labels.get("istio.io/rev"):
        return str(labels["istio.io/rev"])
    try:
        injected = json.loads(str(annotations.get("sidecar.istio.io/status") or "{}"))
    except ValueError:
        injected = {}
    return str(injected.get("revision") or "default") if isinstance(injected, dict) else "default"


def envoy_pod(pod: dict[str, Any]) -> EnvoyPod | None:
    kind = classify(pod)
    if kind is None:
        return None
    meta, status = pod.get("metadata") or {}, pod.get("status") or {}
    statuses = status.get("containerStatuses") or ()
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    ips = tuple(str(i.get("ip")) for i in status.get("podIPs") or () if isinstance(i, dict) and i.get("ip"))
    if not ips and status.get("podIP"):
        ips = (str(status["podIP"]),)
    owners = tuple((str(o.get("kind", "")), str(o.get("name", ""))) for o in meta.get("ownerReferences") or ())
    ports = tuple((str(p["name"]), int(p["containerPort"])) for c in (pod.get("spec") or {}).get("containers") or ()
                  for p in c.get("ports") or () if p.get("name") and isinstance(p.get("containerPort"), int))
    return EnvoyPod(namespace=str(meta.get("namespace", "")), name=str(meta.get("name", "")), kind=kind,
                    node=str((pod.get("spec") or {}).get("nodeName", "")), ip=str(status.get("podIP", "")),
                    revision=revision(labels, annotations),
                    ready=f"{sum(1 for s in statuses if s.get('ready'))}/{len(statuses)}",
                    phase=str(status.get("phase", "")), admin_port=admin_port(annotations),
                    labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())), ips=ips, owners=owners,
                    ports=ports)


def service_ports(services: list[dict[str, Any]], pod: EnvoyPod) -> tuple[ServicePort, ...]:
    """The ports of the Services (of the pod's namespace) whose selector picks the pod: ``port`` → ``targetPort``
    (a number, a container port's name, or absent: the same as ``port``)."""
    labels, named = dict(pod.labels), dict(pod.ports)
    out = []
    for service in services:
        meta, spec = service.get("metadata") or {}, service.get("spec") or {}
        selector = spec.get("selector") or {}
        if not selector or any(labels.get(k) != v for k, v in selector.items()):
            continue
        for entry in spec.get("ports") or ():
            port, target = entry.get("port"), entry.get("targetPort", entry.get("port"))
            if isinstance(target, str):
                target = int(target) if target.isdigit() else named.get(target)
            if isinstance(port, int) and isinstance(target, int):
                out.append(ServicePort(f"{meta.get('namespace', pod.namespace)}/{meta.get('name', '')}", port, target,
                                       str(entry.get("name") or ""), str(entry.get("protocol") or "TCP")))
    return tuple(out)


def label_selector(selector: dict[str, Any]) -> str:
    """A LabelSelector object (``matchLabels``, ``matchExpressions``) as the string ``labelSelector`` takes."""
    terms = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or ():
        key, op, values = expr.get("key", ""), expr.get("operator", ""), ",".join(expr.get("values") or ())
        terms.append({"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})", "Exists": key,
                      "DoesNotExist": f"!{key}"}.get(op, key))
    return ",".join(terms)


class Kube:
    """A Kubernetes connection for envoyscope's purposes."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None) -> None:
        self.api = _config(kubeconfig, context)

    def _raw(self, call: Any, what: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            response = call(*args, _preload_content=False, **kwargs)
            return dict(json.loads(response.data))
        except ApiException as exc:
            raise _api_error(exc, what) from exc
        except (HTTPError, OSError) as exc:
            raise _api_error(exc, what) from exc
        except ValueError as exc:
            raise KubeError(f"{what}: the API server's answer is not JSON") from exc

    def pods(self, namespace: str | None = None, selector: str | None = None) -> list[EnvoyPod]:
        """Pods running an Envoy, as the API lists them."""
        kwargs = {"label_selector": selector} if selector else {}
        if namespace:
            doc = self._raw(self.api.list_namespaced_pod, f"pods in {namespace}", namespace, **kwargs)
        else:
            doc = self._raw(self.api.list_pod_for_all_namespaces, "pods", **kwargs)
        found = [envoy_pod(item) for item in doc.get("items") or ()]
        return sorted((p for p in found if p is not None), key=lambda p: (p.namespace, p.name))

    def gateways(self) -> list[EnvoyPod]:
        """Every ingress, egress and Gateway-API gateway pod of the cluster, running or not."""
        return [p for p in self.pods() if p.is_gateway]

    def deployment_pods(self, name: str, namespace: str) -> list[EnvoyPod]:
        """The Envoy pods of a Deployment: its selector's pods whose ReplicaSet is ``NAME-<pod-template-hash>``."""
        from kubernetes import client

        apps = client.AppsV1Api(self.api.api_client)
        doc = self._raw(apps.read_namespaced_deployment, f"deployment {namespace}/{name}", name, namespace)
        selector = label_selector((doc.get("spec") or {}).get("selector") or {})
        if not selector:
            raise KubeError(f"deployment {namespace}/{name} has no selector")

        def owned(pod: EnvoyPod) -> bool:
            template_hash = dict(pod.labels).get("pod-template-hash")
            return bool(template_hash) and ("ReplicaSet", f"{name}-{template_hash}") in pod.owners

        return [p for p in self.pods(namespace, selector) if owned(p)]

    def resolve(self, spec: str, namespace: str = "default") -> EnvoyPod:
        """``NS/NAME``, ``NAME``, ``deploy/NAME`` or ``NS/deploy/NAME`` (a running pod of it) → the Envoy pod."""
        match = re.fullmatch(r"(?:([^/]+)/)?(?:deploy|deployment|deployments)/([^/]+)", spec)
        if match:
            ns, name = match.group(1) or namespace, match.group(2)
            candidates = [p for p in self.deployment_pods(name, ns) if p.phase == "Running"]
            if not candidates:
                raise KubeError(f"--pod {spec}: no running pod of deployment {ns}/{name} runs an Envoy")
            return candidates[0]
        ns, _, name = spec.rpartition("/")
        ns = ns or namespace
        doc = self._raw(self.api.read_namespaced_pod, f"pod {ns}/{name}", name, ns)
        pod = envoy_pod(doc)
        if pod is None:
            raise KubeError(f"--pod {ns}/{name}: the pod runs no Envoy (no istio-proxy container, not a gateway)")
        if pod.phase != "Running":
            raise KubeError(f"--pod {ns}/{name}: the pod is {pod.phase or 'not running'}, not Running")
        return pod

    def transport(self, pod: EnvoyPod, port: int | None = None) -> httpx.BaseTransport:
        return PortForwardTransport(self.api, pod.namespace, pod.name, port or pod.admin_port)

    def client(self, pod: EnvoyPod, port: int | None = None, timeout: float = 30.0) -> AdminClient:
        """An admin client of the pod's Envoy over a port-forward (for /certs, /listeners, captures…)."""
        from envoyscope.sources.admin import AdminClient

        port = port or pod.admin_port
        return AdminClient(f"http://{pod.name}.{pod.namespace}:{port}", timeout=timeout,
                           transport=self.transport(pod, port), label=f"pod {pod.namespace}/{pod.name}")

    def services(self, pod: EnvoyPod) -> tuple[ServicePort, ...]:
        """The ports of the Services that select the pod (how a gateway's Service port maps to its listener's)."""
        doc = self._raw(self.api.list_namespaced_service, f"services in {pod.namespace}", pod.namespace)
        return service_ports(list(doc.get("items") or ()), pod)

    def dump(self, pod: EnvoyPod, port: int | None = None, timeout: float = 30.0) -> LiveDump:
        """The pod's dump; a gateway's with its Services' ports (a refusal to list them is a note, not an error)."""
        import dataclasses

        with self.client(pod, port, timeout) as admin:
            dump = admin.dump()
        if not pod.is_gateway:
            return dump
        try:
            return dataclasses.replace(dump, service_ports=self.services(pod))
        except KubeError as exc:
            note = (f"the pod's Services could not be read ({exc}): a trace to a Service port takes its targetPort "
                    "from the dump's virtual host names only")
            return dataclasses.replace(dump, notes=(*dump.notes, note))


class _PortForwardBackend(httpcore.NetworkBackend):
    """Each HTTP connection is a new port-forward stream to the pod's port (as kubectl port-forward does)."""

    def __init__(self, api: Any, namespace: str, pod: str, port: int) -> None:
        self.api, self.namespace, self.pod, self.port = api, namespace, pod, port

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Any = None) -> httpcore.NetworkStream:
        from kubernetes.stream import portforward
        from websocket import WebSocketException

        try:
            forward = portforward(self.api.connect_get_namespaced_pod_portforward, self.pod, self.namespace,
                                  ports=str(self.port))
        except WebSocketException as exc:
            status = getattr(exc, "status_code", None)
            if status == 403:
                raise KubeError(f"pod {self.namespace}/{self.pod}: forbidden by RBAC (403): port-forward needs "
                                "`create` on pods/portforward") from exc
            raise KubeError(f"pod {self.namespace}/{self.pod}: port-forward refused ({exc})") from exc
        except Exception as exc:  # noqa: BLE001 (the client raises ApiException, OSError, ValueError…)
            text = " ".join(str(exc).split())
            if "403" in text:  # the upgrade was refused: "Handshake status 403 Forbidden"
                raise KubeError(f"pod {self.namespace}/{self.pod}: forbidden by RBAC (403): port-forward needs "
                                "`create` on pods/portforward") from exc
            raise KubeError(f"pod {self.namespace}/{self.pod}: port-forward failed ({text[:160]})") from exc
        sock = forward.socket(self.port)
        sock.settimeout(timeout)
        stream = _ForwardStream(sock, forward, f"pod {self.namespace}/{self.pod}", self.port)
        stream.raise_forward_error()
        return stream


class _ForwardStream(httpcore.NetworkStream):
    def __init__(self, sock: Any, forward: Any, label: str, port: int) -> None:
        self.sock, self.forward, self.label, self.port = sock, forward, label, port

    def raise_forward_error(self) -> None:
        """What the error channel said (e.g. nothing listens on that port in the pod), as one sentence."""
        from envoyscope.errors import AdminError

        error = self.forward.error(self.port)
        if error:
            text = " ".join(str(error).split())
            raise AdminError(f"{self.label}: nothing answers on port {self.port} in the pod (the port-forward said: "
                             f"{text[:200]}) — is that the admin port? (--admin-port)")

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.sock.settimeout(timeout)
        try:
            data = bytes(self.sock.recv(max_bytes))
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:  # the stream broke: when the pod side refused, the error channel says why
            self.raise_forward_error()
            raise httpcore.ReadError(str(exc)) from exc
        if not data:  # the stream ended: the same
            self.raise_forward_error()
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.sock.settimeout(timeout)
        try:
            self.sock.sendall(buffer)
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def close(self) -> None:
        import contextlib

        self.sock.close()
        self.forward.close()
        websocket = getattr(self.forward, "websocket", None)
        if websocket is not None:  # the client leaves it open when the server side dropped first
            with contextlib.suppress(Exception):
                websocket.close()
            with contextlib.suppress(Exception):
                if websocket.sock is not None:
                    websocket.sock.close()

    def get_extra_info(self, info: str) -> Any:
        return None


class PortForwardTransport(httpx.HTTPTransport):
    """httpx over a Kubernetes port-forward: httpx's own HTTP/1.1 stack with our network backend."""

    def __init__(self, api: Any, namespace: str, pod: str, port: int) -> None:
        super().__init__()
        self._pool = httpcore.ConnectionPool(network_backend=_PortForwardBackend(api, namespace, pod, port),
                                             max_connections=2)
