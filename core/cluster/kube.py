"""`KubeCluster`: the `Cluster` port on the official `kubernetes` client (37.x).

- Its own `Configuration` and `ApiClient` (never the process-wide default), from a kubeconfig
  file and context, or in-cluster service-account credentials, or the default kubeconfig.
- Lists are cluster-wide and paginated (`limit=500` + `continue`); responses are read with
  `_preload_content=False` and `json.loads`, skipping the client's pydantic models (several times
  cheaper in CPU, and objects come back exactly as the API server sent them).
- Retries live here, not in urllib3 (whose retries are switched off, so every request is counted
  once): 500/502/503/504, timeouts and connection errors are retried `cluster.retries` times with
  jittered exponential backoff, honouring `Retry-After`. 409 is never retried: the caller
  re-reads. A 429 (API Priority and Fairness) is not a failure: it is retried after its
  `Retry-After` outside that budget and shrinks the requests in flight (`throttle.py`).
"""

from __future__ import annotations

import functools
import json
import os
import random
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.util.retry import Retry

from core.cluster.base import NamespaceInfo, WorkloadObject
from core.cluster.throttle import Throttle
from core.config import ClusterSettings
from core.errors import (
    ClusterError,
    ClusterUnavailableError,
    ConflictError,
    ForbiddenError,
    NotFoundError,
)
from core.models import WorkloadKind, WorkloadRef

if TYPE_CHECKING:
    from core.cluster.lease import KubeLease

PAGE_SIZE = 500
# One request throttled (429) for longer than this in total gives up, so a pass always ends.
THROTTLED_PATIENCE = 600.0
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_TRANSPORT_ERRORS = (urllib3.exceptions.HTTPError, OSError)

# The config loaders and ApiClient.close are untyped in the client: call them through these.
_load_incluster_config: Callable[..., None] = k8s_config.load_incluster_config
_load_kube_config: Callable[..., None] = k8s_config.load_kube_config

# kind -> (apiVersion, plural): the REST paths are /apis/{apiVersion}/[namespaces/{ns}/]{plural}
_KINDS: dict[WorkloadKind, tuple[str, str]] = {
    WorkloadKind.DEPLOYMENT: ("apps/v1", "deployments"),
    WorkloadKind.STATEFULSET: ("apps/v1", "statefulsets"),
    WorkloadKind.DAEMONSET: ("apps/v1", "daemonsets"),
    WorkloadKind.CRONJOB: ("batch/v1", "cronjobs"),
}
# What the client's generated methods send for a patch whose body is an object.
PATCH_TYPE = "application/strategic-merge-patch+json"
Query = list[tuple[str, Any]]


def load_configuration(settings: ClusterSettings) -> k8s.Configuration:
    """A fresh client Configuration from the settings; ClusterUnavailableError naming the source.

    No kubeconfig and no context: in-cluster credentials first (running in a pod), then the
    default kubeconfig (`KUBECONFIG`, else ~/.kube/config).
    """
    configuration = k8s.Configuration()
    if settings.kubeconfig is None and settings.context is None:
        try:
            _load_incluster_config(client_configuration=configuration)
            return configuration
        except k8s_config.ConfigException:
            pass  # not in a pod: fall back to the default kubeconfig
    path = settings.kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
    source = f"kubeconfig {path}" + (f" (context {settings.context})" if settings.context else "")
    if not any(os.path.exists(os.path.expanduser(p)) for p in path.split(os.pathsep)):
        hint = "not running in a pod, and " if settings.kubeconfig is None else ""
        raise ClusterUnavailableError(
            f"no cluster credentials: {hint}{source} does not exist; set cluster.kubeconfig "
            "(and cluster.context) in the configuration"
        )
    try:
        _load_kube_config(
            config_file=path,
            context=settings.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except Exception as exc:  # the loader raises ConfigException, TypeError, YAML errors...
        raise ClusterUnavailableError(
            f"cannot load {source}: {exc}; check the file and the context name "
            "(`kubectl config get-contexts`)"
        ) from exc
    return configuration


def _tune(configuration: k8s.Configuration, settings: ClusterSettings) -> None:
    """No urllib3 retries (ours count exactly), and enough pooled connections for concurrency."""
    configuration.retries = Retry(
        total=0, connect=0, read=0, redirect=0, status=0, other=0, raise_on_status=False
    )
    configuration.client_go_retries = False
    current = configuration.connection_pool_maxsize or 0
    configuration.connection_pool_maxsize = max(current, settings.concurrency)
    _throttle_token_refresh(configuration)


TOKEN_REFRESH_INTERVAL = 10.0


def _throttle_token_refresh(configuration: k8s.Configuration) -> None:
    """The kubeconfig loader installs a hook that runs before *every* request: it re-applies the
    whole kubeconfig (scanning os.environ for proxies; 5% of client CPU in the bench, far more in a
    pod with many service variables) and re-runs an exec plugin (EKS `get-token`) near expiry with
    no lock, so C threads could run it at once. Run it at most every few seconds, one thread at a
    time; the loader already renews tokens minutes before they expire."""
    hook = configuration.refresh_api_key_hook
    if hook is None:
        return
    lock = threading.Lock()
    last_run = [float("-inf")]

    def refresh(conf: k8s.Configuration) -> None:
        if time.monotonic() - last_run[0] < TOKEN_REFRESH_INTERVAL:
            return
        with lock:
            if time.monotonic() - last_run[0] < TOKEN_REFRESH_INTERVAL:
                return
            hook(conf)
            conf.refresh_api_key_hook = refresh  # the loader's hook re-installs itself
            last_run[0] = time.monotonic()

    configuration.refresh_api_key_hook = refresh


def _server_message(exc: ApiException) -> str:
    """The `message` of the Status the server sent, else its raw body (shortened)."""
    body = exc.body or ""
    try:
        status = json.loads(body)
    except (TypeError, ValueError):
        status = None
    if isinstance(status, dict) and status.get("message"):
        return str(status["message"])
    return str(body).strip()[:300] or str(exc.reason or "no message")


def _retry_after(exc: BaseException) -> float | None:
    headers = getattr(exc, "headers", None) if isinstance(exc, ApiException) else None
    value = headers.get("Retry-After") if headers is not None else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: fall back to our backoff
    return max(seconds, 0.0) if seconds is not None else None


def _is_throttled(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 429


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return exc.status in RETRYABLE_STATUSES
    reason = getattr(exc, "reason", None)
    return not isinstance(exc, urllib3.exceptions.SSLError) and not isinstance(
        reason, urllib3.exceptions.SSLError
    )


def _read_json(response: Any, what: str) -> dict[str, Any]:
    """Read a raw urllib3 response fully (its connection goes back to the pool) and decode it."""
    try:
        data = response.data
    finally:
        response.release_conn()
    try:
        decoded = json.loads(data)
    except ValueError as exc:
        raise ClusterError(f"{what}: the API server sent a body that is not JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise ClusterError(f"{what}: the API server sent a {type(decoded).__name__}, not an object")
    return decoded


class KubeCluster:
    """The cluster, through the official client. Thread-safe: share one instance."""

    def __init__(
        self,
        settings: ClusterSettings | None = None,
        *,
        api_client: k8s.ApiClient | None = None,
        backoff_base: float = 0.2,
        backoff_cap: float = 5.0,
        retry_after_cap: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings or ClusterSettings()
        if api_client is None:
            configuration = load_configuration(self._settings)
            _tune(configuration, self._settings)
            api_client = k8s.ApiClient(configuration)
        self._api_client = api_client
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._retry_after_cap = retry_after_cap
        self._sleep = sleep
        self._random = random.Random()
        self.throttle = Throttle(
            self._settings.qps, self._settings.burst, self._settings.concurrency, sleep=sleep
        )

    @classmethod
    def from_api_client(
        cls, api_client: k8s.ApiClient, settings: ClusterSettings | None = None, **kwargs: Any
    ) -> KubeCluster:
        """Wrap a client configured elsewhere (its urllib3 retries are the caller's business)."""
        return cls(settings, api_client=api_client, **kwargs)

    @property
    def concurrency(self) -> int:
        return self._settings.concurrency

    @property
    def host(self) -> str:
        return str(self._api_client.configuration.host)

    def lease(self, namespace: str, name: str, timeout: float) -> KubeLease:
        """The leader-election Lease `namespace/name`, on this cluster's client."""
        from core.cluster.lease import KubeLease

        return KubeLease(self._api_client, namespace, name, timeout)

    def close(self) -> None:
        close: Callable[[], None] = self._api_client.close
        close()

    def __enter__(self) -> KubeCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the Cluster protocol -----------------------------------------------------------------

    def list_namespaces(self) -> list[NamespaceInfo]:
        items = self._list_all("list namespaces", "/api/v1/namespaces")
        return [_namespace_info(item) for item in items]

    def list_workloads(self, kind: WorkloadKind) -> list[WorkloadObject]:
        api_version, plural = _KINDS[kind]
        path = f"/apis/{api_version}/{plural}"
        items = self._list_all(f"list {kind.value}s in all namespaces", path)
        for item in items:  # list items come without apiVersion/kind: give them the GET shape
            item.setdefault("apiVersion", api_version)
            item.setdefault("kind", kind.value)
        return items

    def create_event(self, event: dict[str, Any]) -> None:
        namespace = event["metadata"]["namespace"]
        path = f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/events"
        send = functools.partial(self._send, "POST", path, [], event, "application/json")
        self._request(f"create an event in {namespace}", send)

    def list_pods(self, namespace: str) -> list[dict[str, Any]]:
        path = f"/api/v1/namespaces/{urllib.parse.quote(namespace, safe='')}/pods"
        return self._list_all(f"list pods in {namespace}", path)

    def get_workload(self, ref: WorkloadRef) -> WorkloadObject:
        send = functools.partial(self._send, "GET", _object_path(ref), [])
        return self._request(f"get {ref}", send)

    def patch_workload(
        self, ref: WorkloadRef, body: dict[str, Any], dry_run: bool = False
    ) -> WorkloadObject:
        query: Query = [("dryRun", "All")] if dry_run else []
        send = functools.partial(self._send, "PATCH", _object_path(ref), query, body)
        what = f"patch {ref}" + (" (dry run)" if dry_run else "")
        return self._request(what, send)

    # --- requests, retries, errors --------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        query: Query,
        body: dict[str, Any] | None = None,
        content_type: str = PATCH_TYPE,
    ) -> Any:
        """One request through the client's ApiClient (its auth, TLS, proxy and token refresh),
        without the generated API classes, whose import builds hundreds of pydantic models we
        never use (we read raw JSON). The raw urllib3 response; a non-2xx raises ApiException,
        as the generated methods do with `_preload_content=False`."""
        client = self._api_client
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = client.param_serialize(
            method,
            path,
            query_params=query,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = client.call_api(*request, _request_timeout=self._settings.request_timeout)
        if not 200 <= response.status <= 299:
            read_body: Callable[[], Any] = response.read  # untyped in the client
            read_body()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        return response.response

    def _list_all(self, what: str, path: str) -> list[dict[str, Any]]:
        """Every page of a list; a `continue` token that expired (410) restarts it once."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        restarted = False
        while True:
            query: Query = [("limit", PAGE_SIZE), *([("continue", token)] if token else [])]
            send = functools.partial(self._send, "GET", path, query)
            try:
                page = self._request(what, send)
            except ClusterError as exc:
                if exc.status != 410 or token is None or restarted:
                    raise
                items, token, restarted = [], None, True
                continue
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or None
            if token is None:
                return items

    def _request(self, what: str, send: Callable[[], Any]) -> dict[str, Any]:
        """One API request with our retries; the decoded JSON body, or a ClusterError.

        A 429 is the server asking us to slow down, not a failure: it shrinks the adaptive
        limit and is retried after its `Retry-After` without spending `cluster.retries`, for
        up to `THROTTLED_PATIENCE` seconds of one request's throttling."""
        failures = attempts = throttles = 0
        throttled_for = 0.0
        while True:
            attempts += 1
            with self.throttle.slot() as seat:
                try:
                    body = _read_json(send(), what)
                    seat.answer = "good"
                    return body
                except (ApiException, *_TRANSPORT_ERRORS) as exc:
                    error = exc
                    if _is_throttled(exc):
                        seat.answer = "throttled"
            if seat.answer == "throttled" and throttled_for < THROTTLED_PATIENCE:
                wait = self._wait(throttles, error)
                throttles += 1
                throttled_for += wait
                self._sleep(wait)
                continue
            if failures >= self._settings.retries or not _is_retryable(error):
                raise self._failure(what, error, attempts) from error
            self._sleep(self._wait(failures, error))
            failures += 1

    def _wait(self, attempt: int, exc: BaseException) -> float:
        retry_after = _retry_after(exc)
        if retry_after is not None:
            return min(retry_after, self._retry_after_cap)
        ceiling = min(self._backoff_cap, self._backoff_base * 2.0**attempt)
        return ceiling / 2 + self._random.uniform(0, ceiling / 2)

    def _failure(self, what: str, exc: BaseException, attempts: int) -> ClusterError:
        if not isinstance(exc, ApiException):
            return ClusterUnavailableError(
                f"{what}: cannot reach the API server at {self.host} after {attempts} "
                f"attempt(s): {_describe_transport(exc)}; check the kubeconfig server address, "
                "the network or VPN, and that the cluster is up"
            )
        return _api_failure(what, exc, attempts, self.host)


def _api_failure(what: str, exc: ApiException, attempts: int, host: str) -> ClusterError:
    status = int(exc.status or 0)
    message = _server_message(exc)
    head = f"{what}: HTTP {status}" + (f" {exc.reason}" if exc.reason else "") + f": {message}"
    if status == 409:
        return ConflictError(f"{head}; re-read the object and recompute the patch", status)
    if status == 404:
        return NotFoundError(f"{head}; it (or its namespace) no longer exists", status)
    if status == 401:
        return ForbiddenError(
            f"{head}; the API server at {host} rejected the credentials: refresh the token "
            "or select another kubeconfig context",
            status,
        )
    if status == 403:
        return ForbiddenError(
            f"{head}; grant namespace-ctl's identity get, list and patch on this resource "
            "(RBAC, see manifests/) or exclude the namespace",
            status,
        )
    if status in RETRYABLE_STATUSES:
        return ClusterUnavailableError(
            f"{head}; still failing after {attempts} attempt(s): the API server at {host} is "
            "overloaded or unhealthy, try again later",
            status,
        )
    if status == 0:
        return ClusterUnavailableError(f"{what}: cannot talk to {host}: {exc.reason}", None)
    return ClusterError(head, status)


def _describe_transport(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    inner = reason if isinstance(reason, BaseException) else exc
    if isinstance(inner, urllib3.exceptions.NewConnectionError):  # before TimeoutError: a subclass
        return f"cannot connect ({inner})"
    if isinstance(inner, urllib3.exceptions.TimeoutError | TimeoutError):
        return f"timed out ({inner})"
    if isinstance(inner, urllib3.exceptions.SSLError):
        return f"TLS failed ({inner}): check the cluster CA in the kubeconfig"
    return f"{type(inner).__name__}: {inner}"


def _object_path(ref: WorkloadRef) -> str:
    api_version, plural = _KINDS[ref.kind]
    namespace, name = (urllib.parse.quote(part, safe="") for part in (ref.namespace, ref.name))
    return f"/apis/{api_version}/namespaces/{namespace}/{plural}/{name}"


def _namespace_info(item: dict[str, Any]) -> NamespaceInfo:
    meta = item.get("metadata") or {}
    return NamespaceInfo(
        name=meta.get("name", ""),
        labels=meta.get("labels") or {},
        annotations=meta.get("annotations") or {},
    )
