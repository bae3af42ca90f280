"""A small, threaded HTTP fake of the Kubernetes API that the real ``kubernetes`` client talks to.

No API server can run on these machines, and the controller's hard parts (watch resume, 410 Gone,
resourceVersion preconditions, finalizers, status subresource) are exactly what an in-process
mock would paper over. This fake speaks the real wire protocol for the few endpoints the
controller uses, keeps an etcd-like global resourceVersion and event history, and gives tests
controls to break watch streams, cause outages and compact history.

Resources are named ``"<group>/<version>/<plural>"`` (``"v1/<plural>"`` for the core group),
e.g. :data:`RESTORES`.
"""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESTORES = "kafka.oso.sh/v1alpha1/kafkarestores"
BACKUPS = "kafka.oso.sh/v1alpha1/kafkabackups"
SECRETS = "v1/secrets"
EVENTS = "v1/events"
LEASES = "coordination.k8s.io/v1/leases"

_KINDS = {
    RESTORES: "KafkaRestore",
    BACKUPS: "KafkaBackup",
    SECRETS: "Secret",
    EVENTS: "Event",
    LEASES: "Lease",
}
# Resources served with a status subresource: the main endpoint ignores status, /status ignores the rest.
_WITH_STATUS = {RESTORES, BACKUPS}
_IMMUTABLE_META = ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp")

_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>status))?$"
)


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str):
        super().__init__(message)
        self.code = code
        self.reason = reason

    def status(self) -> dict[str, Any]:
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": str(self), "reason": self.reason, "code": self.code}


@dataclass(frozen=True)
class WatchEvent:
    rv: int
    resource: str
    namespace: str
    type: str
    object: dict[str, Any]


@dataclass(frozen=True)
class RecordedPatch:
    resource: str
    namespace: str
    name: str
    subresource: str | None
    body: Any
    content_type: str
    user_agent: str


@dataclass
class _Route:
    resource: str
    namespace: str | None
    name: str | None
    subresource: str | None
    query: dict[str, str] = field(default_factory=dict)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeKubeApi:
    """The store, the HTTP server, and the test controls.

    ``history_limit`` bounds the watch history (older versions answer 410 Gone);
    ``gone_as_status=True`` answers a too-old watch with an HTTP 410 instead of an ERROR event;
    ``bookmark_interval`` (seconds) makes watches that ask for bookmarks receive them.
    """

    def __init__(self, *, history_limit: int = 10_000, gone_as_status: bool = False,
                 bookmark_interval: float | None = None):
        self.history_limit = history_limit
        self.gone_as_status = gone_as_status
        self.bookmark_interval = bookmark_interval
        self._cond = threading.Condition()
        self._rv = 0
        self._compacted_rv = 0
        self._objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._history: list[WatchEvent] = []
        self._watch_epoch = 0
        self._outage = False
        self._closing = False
        self.patches: list[RecordedPatch] = []
        self.events: list[dict[str, Any]] = []
        self.watch_requests: list[dict[str, str]] = []
        self.list_requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-kube-api",
                                        daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeKubeApi:
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeKubeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def api_client(self, user_agent: str | None = None):  # -> kubernetes.client.ApiClient
        """A real kubernetes ApiClient pointed at this fake; ``user_agent`` tells clients apart in
        :attr:`patches`."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.url
        configuration.retries = 0
        api_client = client.ApiClient(configuration)
        if user_agent:
            api_client.user_agent = user_agent
        return api_client

    # -- test controls ---------------------------------------------------------------------------

    def create(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            return copy.deepcopy(self._create(resource, obj))

    def apply(self, resource: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create, or replace the spec (and labels/annotations) of an existing object."""
        meta = obj["metadata"]
        with self._cond:
            key = (resource, meta.get("namespace", ""), meta["name"])
            if key not in self._objects:
                return copy.deepcopy(self._create(resource, obj))
            old = self._objects[key]
            new = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("metadata", "status")}
            new.setdefault("apiVersion", old["apiVersion"])
            new.setdefault("kind", old["kind"])
            new["metadata"] = copy.deepcopy(old["metadata"])
            for name in ("labels", "annotations"):
                if name in meta:
                    new["metadata"][name] = copy.deepcopy(meta[name])
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            return copy.deepcopy(self._store_change(resource, key, old, new))

    def delete(self, resource: str, namespace: str, name: str) -> None:
        with self._cond:
            self._delete(resource, (resource, namespace, name))

    def get(self, resource: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self._cond:
            obj = self._objects.get((resource, namespace, name))
            return copy.deepcopy(obj)

    def break_watches(self) -> None:
        """Cut every open watch stream mid-way (the connection drops without a final chunk)."""
        with self._cond:
            self._watch_epoch += 1
            self._cond.notify_all()

    @contextmanager
    def outage(self) -> Iterator[None]:
        """Within the block every HTTP request has its connection dropped, and open watches are cut."""
        with self._cond:
            self._outage = True
        self.break_watches()
        try:
            yield
        finally:
            with self._cond:
                self._outage = False

    def compact(self) -> None:
        """Forget the watch history: a watch resuming from any older version gets 410 Gone."""
        with self._cond:
            self._history.clear()
            self._compacted_rv = self._rv

    def status_patches(self, namespace: str | None = None, name: str | None = None) -> list[RecordedPatch]:
        return [p for p in list(self.patches) if p.resource == RESTORES and p.subresource == "status"
                and namespace in (None, p.namespace) and name in (None, p.name)]

    def recorded_events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for e in list(self.events) if name in (None, e.get("involvedObject", {}).get("name"))]

    @property
    def resource_version(self) -> int:
        return self._rv

    # -- store (call with self._cond held) -------------------------------------------------------

    def _bump(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _record(self, resource: str, namespace: str, type_: str, obj: dict[str, Any]) -> None:
        self._history.append(WatchEvent(self._rv, resource, namespace, type_, copy.deepcopy(obj)))
        overflow = len(self._history) - self.history_limit
        if overflow > 0:
            self._compacted_rv = self._history[overflow - 1].rv
            del self._history[:overflow]
        self._cond.notify_all()

    def _create(self, resource: str, obj: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        if namespace is not None:
            meta["namespace"] = namespace
        ns = meta.get("namespace", "")
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        if not meta.get("name"):
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        key = (resource, ns, meta["name"])
        if key in self._objects:
            raise ApiError(409, "AlreadyExists", f'{_KINDS.get(resource, resource)} "{meta["name"]}" already exists')
        group_version, _, _plural = resource.rpartition("/")
        obj.setdefault("apiVersion", group_version)
        obj.setdefault("kind", _KINDS.get(resource, "Object"))
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1, resourceVersion=self._bump())
        meta.pop("deletionTimestamp", None)
        if resource in _WITH_STATUS:
            obj.pop("status", None)
        self._objects[key] = obj
        self._record(resource, ns, "ADDED", obj)
        return obj

    def _lookup(self, resource: str, key: tuple[str, str, str]) -> dict[str, Any]:
        obj = self._objects.get(key)
        if obj is None:
            raise ApiError(404, "NotFound", f'{_KINDS.get(resource, resource)} "{key[2]}" not found')
        return obj

    @staticmethod
    def _check_precondition(obj: dict[str, Any], wanted: str | None) -> None:
        if wanted is not None and str(wanted) != obj["metadata"]["resourceVersion"]:
            raise ApiError(409, "Conflict", "the object has been modified; please apply your changes to the "
                           "latest version and try again")

    def _store_change(self, resource: str, key: tuple[str, str, str], old: dict[str, Any],
                      new: dict[str, Any]) -> dict[str, Any]:
        """Keep server-owned metadata, bump versions when something changed, finish deletion."""
        for name in _IMMUTABLE_META:
            if name in old["metadata"]:
                new["metadata"][name] = old["metadata"][name]
            else:
                new["metadata"].pop(name, None)
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        if resource in _WITH_STATUS and new.get("spec") != old.get("spec"):
            new["metadata"]["generation"] = old["metadata"]["generation"] + 1
        new["metadata"]["resourceVersion"] = self._bump()
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            del self._objects[key]
            self._record(resource, key[1], "DELETED", new)
            return new
        self._objects[key] = new
        self._record(resource, key[1], "MODIFIED", new)
        return new

    def _patch(self, resource: str, key: tuple[str, str, str], patch: Any, subresource: str | None) -> dict:
        old = self._lookup(resource, key)
        if not isinstance(patch, dict):
            raise ApiError(400, "BadRequest", "merge patch body must be a JSON object")
        self._check_precondition(old, (patch.get("metadata") or {}).get("resourceVersion"))
        new = merge_patch(old, patch)
        if resource in _WITH_STATUS:
            if subresource == "status":
                new = {**copy.deepcopy(old), "status": new.get("status")}
                if new["status"] is None:
                    new.pop("status")
            elif "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        return self._store_change(resource, key, old, new)

    def _replace(self, resource: str, key: tuple[str, str, str], body: dict[str, Any]) -> dict[str, Any]:
        old = self._lookup(resource, key)
        wanted = (body.get("metadata") or {}).get("resourceVersion")
        if not wanted:
            raise ApiError(422, "Invalid", "metadata.resourceVersion: must be specified for an update")
        self._check_precondition(old, wanted)
        new = copy.deepcopy(body)
        new.setdefault("apiVersion", old["apiVersion"])
        new.setdefault("kind", old["kind"])
        if resource in _WITH_STATUS:
            new["status"] = copy.deepcopy(old.get("status"))
        return self._store_change(resource, key, old, new)

    def _delete(self, resource: str, key: tuple[str, str, str]) -> dict[str, Any]:
        old = self._lookup(resource, key)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return old
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = _now()
            new["metadata"]["resourceVersion"] = self._bump()
            self._objects[key] = new
            self._record(resource, key[1], "MODIFIED", new)
            return new
        del self._objects[key]
        gone = copy.deepcopy(old)
        gone["metadata"]["resourceVersion"] = self._bump()
        self._record(resource, key[1], "DELETED", gone)
        return gone

    def _list(self, resource: str, namespace: str | None) -> dict[str, Any]:
        items = [copy.deepcopy(o) for (r, ns, _), o in sorted(self._objects.items())
                 if r == resource and namespace in (None, ns)]
        return {"apiVersion": resource.rpartition("/")[0], "kind": _KINDS.get(resource, "Object") + "List",
                "metadata": {"resourceVersion": str(self._rv)}, "items": items}

    # -- HTTP ------------------------------------------------------------------------------------

    def _route(self, raw_path: str) -> _Route:
        parts = urlsplit(raw_path)
        match = _PATH.match(parts.path)
        if not match:
            raise ApiError(404, "NotFound", f"no route for {parts.path}")
        group_version = match["core"] or f"{match['group']}/{match['version']}"
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        return _Route(f"{group_version}/{match['plural']}", match["ns"], match["name"], match["sub"], query)

    def handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self._cond:
            down = self._outage
        if down:
            _drop(handler)
            return
        try:
            route = self._route(handler.path)
            length = int(handler.headers.get("Content-Length") or 0)
            body = json.loads(handler.rfile.read(length)) if length else None
            if method == "GET" and route.name is None and route.query.get("watch", "").lower() in ("true", "1"):
                self._serve_watch(handler, route)
                return
            if method == "GET" and route.name is None:
                self.list_requests.append(dict(route.query))
            code, payload = self._dispatch(method, route, body, handler.headers)
        except ApiError as error:
            code, payload = error.code, error.status()
        _send_json(handler, code, payload)

    def _dispatch(self, method: str, route: _Route, body: Any, headers: Any) -> tuple[int, Any]:
        ns = route.namespace or ""
        key = (route.resource, ns, route.name or "")
        with self._cond:
            if method == "GET":
                if route.name is None:
                    return 200, self._list(route.resource, route.namespace)
                return 200, copy.deepcopy(self._lookup(route.resource, key))
            if method == "POST" and route.name is None:
                obj = self._create(route.resource, body, namespace=ns)
                if route.resource == EVENTS:
                    self.events.append(copy.deepcopy(obj))
                return 201, copy.deepcopy(obj)
            if method == "PUT" and route.name is not None:
                return 200, copy.deepcopy(self._replace(route.resource, key, body))
            if method == "PATCH" and route.name is not None:
                media = headers.get("Content-Type", "").split(";")[0].strip()
                self.patches.append(RecordedPatch(route.resource, ns, route.name, route.subresource,
                                                  copy.deepcopy(body), media, headers.get("User-Agent", "")))
                if media != "application/merge-patch+json":
                    raise ApiError(415, "UnsupportedMediaType", f"the fake supports merge patches only, not {media}")
                return 200, copy.deepcopy(self._patch(route.resource, key, body, route.subresource))
            if method == "DELETE" and route.name is not None:
                return 200, copy.deepcopy(self._delete(route.resource, key))
        raise ApiError(405, "MethodNotAllowed", f"{method} not supported on {route.resource}")

    def _serve_watch(self, handler: BaseHTTPRequestHandler, route: _Route) -> None:
        query = route.query
        self.watch_requests.append(dict(query))
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
        deadline = time.monotonic() + timeout
        since = query.get("resourceVersion") or "0"
        with self._cond:
            epoch = self._watch_epoch
            if since == "0":
                initial = [WatchEvent(self._rv, route.resource, ns, "ADDED", copy.deepcopy(o))
                           for (r, ns, _), o in sorted(self._objects.items())
                           if r == route.resource and route.namespace in (None, ns)]
                position = self._rv
            else:
                initial, position = [], int(since)
                if position < self._compacted_rv and self.gone_as_status:
                    raise ApiError(410, "Expired", f"too old resource version: {position} ({self._compacted_rv})")
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for event in initial:
            _write_chunk(handler, {"type": event.type, "object": event.object})
        next_bookmark = time.monotonic() + (self.bookmark_interval or 0)
        while True:
            with self._cond:
                if self._watch_epoch != epoch or self._closing:
                    _drop(handler)
                    return
                if position < self._compacted_rv:
                    gone = ApiError(410, "Expired", f"too old resource version: {position} ({self._compacted_rv})")
                    batch: list[dict[str, Any]] = [{"type": "ERROR", "object": gone.status()}]
                    position = -1
                else:
                    events = [e for e in self._history if e.rv > position and e.resource == route.resource
                              and route.namespace in (None, e.namespace)]
                    batch = [{"type": e.type, "object": e.object} for e in events]
                    if events:
                        position = events[-1].rv
                    now = time.monotonic()
                    if not batch and bookmarks and self.bookmark_interval and now >= next_bookmark:
                        next_bookmark = now + self.bookmark_interval
                        position = max(position, self._rv)
                        batch = [{"type": "BOOKMARK", "object": {
                            "apiVersion": route.resource.rpartition("/")[0], "kind": _KINDS.get(route.resource),
                            "metadata": {"resourceVersion": str(position)}}}]
                    if not batch:
                        remaining = deadline - now
                        if remaining <= 0:
                            break
                        waits = [remaining, 0.5]
                        if bookmarks and self.bookmark_interval:
                            waits.append(max(next_bookmark - now, 0.01))
                        self._cond.wait(min(waits))
                        continue
            for item in batch:
                _write_chunk(handler, item)
            if position == -1:
                break
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def _write_chunk(handler: BaseHTTPRequestHandler, item: dict[str, Any]) -> None:
    data = json.dumps(item).encode() + b"\n"
    handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
    handler.wfile.flush()


def _send_json(handler: BaseHTTPRequestHandler, code: int, payload: Any) -> None:
    data = json.dumps(payload).encode()
    handler.send_response(code)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def _drop(handler: BaseHTTPRequestHandler) -> None:
    """Cut the connection as a network failure would: no response, or no final chunk."""
    handler.close_connection = True
    try:
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _handler_for(api: FakeKubeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            api.handle(self, "GET")

        def do_POST(self) -> None:
            api.handle(self, "POST")

        def do_PUT(self) -> None:
            api.handle(self, "PUT")

        def do_PATCH(self) -> None:
            api.handle(self, "PATCH")

        def do_DELETE(self) -> None:
            api.handle(self, "DELETE")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
