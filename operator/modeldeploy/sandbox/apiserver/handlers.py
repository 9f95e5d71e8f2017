"""HTTP routes of the resource API: URL parsing, request bodies, responses, watch streams."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import yaml
from aiohttp import web

from modeldeploy.sandbox.apiserver import errors, protobuf, tables
from modeldeploy.sandbox.apiserver.apply import APPLY_PATCH
from modeldeploy.sandbox.apiserver.errors import ApiError, FieldCause
from modeldeploy.sandbox.apiserver.logs import PodLogs
from modeldeploy.sandbox.apiserver.options import DeleteOptions, delete_answer
from modeldeploy.sandbox.apiserver.patch import PatchError, apply_patch, patch_types
from modeldeploy.sandbox.apiserver.resources import ResourceType
from modeldeploy.sandbox.apiserver.scale import get_scale, update_scale
from modeldeploy.sandbox.apiserver.selectors import FieldSelector, LabelSelector, object_filter
from modeldeploy.sandbox.apiserver.service import ApiService
from modeldeploy.sandbox.apiserver.store import Change, copied
from modeldeploy.sandbox.apiserver.watch import (
    Subscription,
    check_list_options,
    next_bookmark_time,
    watch_event,
)

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# What a binding or an eviction answers.
_CREATED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}
_BODY_TYPES = ("application/json", "application/yaml", "*/*", "")
# Longest a watch stays open when the client sets no timeoutSeconds (upstream: 30-60 min).
_DEFAULT_WATCH_SECONDS = 1800
# How often an idle watch checks that its client is still there.
_IDLE_CHECK_SECONDS = 5.0


def json_response(
    body: Any, status: int = 200, content_type: str = "application/json"
) -> web.Response:
    """A JSON answer; `content_type` may carry parameters (`;g=...;v=...;as=...`)."""
    return web.Response(
        body=json.dumps(body, separators=(",", ":")).encode(),
        status=status,
        headers={"Content-Type": content_type},
    )


def error_response(error: ApiError) -> web.Response:
    return json_response(error.status(), error.code)


@web.middleware
async def status_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure leaves as a `metav1.Status`, never as a traceback."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error)
    except web.HTTPException as error:
        if error.status == 404:
            return error_response(errors.path_not_found())
        if error.status == 405:
            return error_response(errors.method_not_allowed())
        return error_response(ApiError(error.status, error.reason, error.text or error.reason))
    except Exception:
        log.exception("internal error serving %s %s", request.method, request.path_qs)
        return error_response(
            ApiError(500, "InternalError", "an error on the server prevented the request")
        )


@dataclass(frozen=True)
class Target:
    """What a resource URL names."""

    rt: ResourceType
    namespace: str | None  # None: across all namespaces (or cluster-scoped)
    name: str | None
    subresource: str | None

    @property
    def ns(self) -> str:
        """The namespace as the service takes it ("" for cluster-scoped)."""
        return self.namespace or ""


class ResourceRoutes:
    def __init__(self, service: ApiService, logs: PodLogs, bookmark_seconds: float) -> None:
        self.service = service
        self.logs = logs
        self.bookmark_seconds = bookmark_seconds

    def add_to(self, app: web.Application) -> None:
        app.router.add_route("*", "/api/v1/{rest:.*}", self.core)
        app.router.add_route("*", "/apis/{group}/{version}/{rest:.*}", self.grouped)

    async def core(self, request: web.Request) -> web.StreamResponse:
        parts = [part for part in request.match_info["rest"].split("/") if part]
        if len(parts) == 3 and parts[0] == "namespaces" and parts[2] == "bindings":
            # The older form of pods/binding: the pod is named by the Binding itself.
            return await self._bind(request, parts[1], None)
        return await self._serve(request, "", "v1", request.match_info["rest"])

    async def _bind(self, request: web.Request, namespace: str, pod: str | None) -> web.Response:
        if request.method != "POST":
            raise errors.method_not_allowed()
        binding = await read_body(request)
        if pod is None:
            pod = str(
                ((binding if isinstance(binding, dict) else {}).get("metadata") or {}).get("name")
                or ""
            )
            if not pod:
                raise errors.invalid(
                    "Binding",
                    "",
                    "",
                    [FieldCause("metadata.name", "Required value", "FieldValueRequired")],
                )
        self.service.bind(namespace, pod, binding)
        return json_response(_CREATED, 201)

    async def grouped(self, request: web.Request) -> web.StreamResponse:
        info = request.match_info
        return await self._serve(request, info["group"], info["version"], info["rest"])

    def _target(self, group: str, version: str, rest: str) -> Target:
        parts = [part for part in rest.split("/") if part]
        namespace = None
        if len(parts) >= 3 and parts[0] == "namespaces" and parts[2] not in ("status", "finalize"):
            namespace = parts[1]
            parts = parts[2:]
        if not parts or len(parts) > 3:
            raise errors.path_not_found()
        rt = self.service.resolve(group, version, parts[0])
        if namespace is not None and not rt.namespaced:
            raise errors.path_not_found()
        name = parts[1] if len(parts) > 1 else None
        subresource = parts[2] if len(parts) > 2 else None
        if subresource is not None and subresource not in rt.subresources:
            raise errors.path_not_found()
        if rt.namespaced and name is not None and namespace is None:
            raise errors.path_not_found()
        return Target(rt, namespace, name, subresource)

    async def _serve(
        self, request: web.Request, group: str, version: str, rest: str
    ) -> web.StreamResponse:
        target = self._target(group, version, rest)
        query = dict(request.query)
        self.service.warnings = []
        method = request.method
        if target.name is None:
            if method == "GET":
                if query.get("watch") in ("1", "true"):
                    return await self._watch(request, target, query)
                return self._list(request, target, query)
            if method == "POST":
                return await self._create(request, target, query)
            if method == "DELETE":
                return await self._delete_collection(request, target, query)
            raise errors.method_not_allowed()
        if target.subresource == "log":
            if method != "GET":
                raise errors.method_not_allowed()
            pod = self.service.get(target.rt, target.ns, target.name)
            return await self.logs.respond(request, pod, query)
        if target.subresource == "binding":
            return await self._bind(request, target.ns, target.name)
        if target.subresource == "eviction":
            if method != "POST":
                raise errors.method_not_allowed()
            # An Eviction deletes the pod with its deleteOptions (no disruption budgets here).
            eviction = await read_body(request)
            if not isinstance(eviction, dict):
                raise errors.bad_request("the body must be an Eviction object")
            options = DeleteOptions.parse(eviction.get("deleteOptions") or {}, {})
            self.service.delete(target.rt, target.ns, target.name, options)
            return json_response(_CREATED, 201)
        if target.subresource == "scale":
            return await self._scale(request, target, query)
        return await self._object(request, target, query)

    async def _object(
        self, request: web.Request, target: Target, query: dict[str, str]
    ) -> web.StreamResponse:
        service, rt, name, namespace = self.service, target.rt, str(target.name), target.ns
        dry_run, validation = _dry_run(query), _field_validation(query)
        method = request.method
        if method == "GET" and query.get("watch") in ("1", "true") and target.subresource is None:
            # The older form of a one-object watch: the collection watch narrowed to its name.
            narrowed = ",".join(filter(None, [query.get("fieldSelector"), f"metadata.name={name}"]))
            collection = Target(rt, target.namespace, None, None)
            return await self._watch(request, collection, {**query, "fieldSelector": narrowed})
        if method == "GET":
            return self._respond_object(request, rt, service.get(rt, namespace, name))
        if method == "PUT":
            body = await read_body(request)
            obj = service.update(
                rt,
                namespace,
                name,
                body,
                target.subresource,
                dry_run,
                validation,
                _field_manager(request, query),
            )
            return self._written(obj)
        if method == "PATCH":
            content_type = _content_type(request)
            patch = _decode(await request.read())
            applying = content_type == APPLY_PATCH
            # An apply creates what does not exist yet, and then answers 201.
            creating = applying and service.store.get(rt.storage_key, (namespace, name)) is None
            obj = service.patch(
                rt,
                namespace,
                name,
                content_type,
                patch,
                target.subresource,
                dry_run,
                validation,
                query.get("fieldManager") if applying else _field_manager(request, query),
                force=query.get("force") in ("1", "true"),
            )
            return self._written(obj, 201 if creating else 200)
        if method == "DELETE":
            if target.subresource is not None:
                raise errors.method_not_allowed()
            options = DeleteOptions.parse(await _delete_options(request), query)
            obj, gone = service.delete(rt, namespace, name, options)
            answer = delete_answer(rt.group, rt.plural, obj, gone)
            return json_response(answer, options.status_code(gone))
        raise errors.method_not_allowed()

    async def _scale(
        self, request: web.Request, target: Target, query: dict[str, str]
    ) -> web.StreamResponse:
        service, rt, name, namespace = self.service, target.rt, str(target.name), target.ns
        dry_run = _dry_run(query)
        if request.method == "GET":
            return json_response(get_scale(service, rt, namespace, name))
        if request.method == "PUT":
            body = await read_body(request)
            return json_response(update_scale(service, rt, namespace, name, body, dry_run))
        if request.method == "PATCH":
            content_type = _content_type(request)
            accepted = patch_types(strategic=True)
            if content_type not in accepted:
                raise errors.unsupported_media_type(content_type, accepted)
            # Patch the Scale object itself, then write its replicas through.
            current = get_scale(service, rt, namespace, name)
            try:
                scale = apply_patch(content_type, current, _decode(await request.read()))
            except PatchError as error:
                raise errors.invalid("Scale", "autoscaling", name, [error.cause()]) from error
            return json_response(update_scale(service, rt, namespace, name, scale, dry_run))
        raise errors.method_not_allowed()

    def _written(self, obj: dict[str, Any], status: int = 200) -> web.Response:
        """The written object, with the request's warnings as `Warning` headers."""
        response = json_response(obj, status)
        for warning in self.service.warnings:
            escaped = warning.replace("\\", "\\\\").replace('"', '\\"')
            response.headers.add("Warning", f'299 - "{escaped}"')
        return response

    def _respond_object(
        self, request: web.Request, rt: ResourceType, obj: dict[str, Any]
    ) -> web.Response:
        if tables.wants_table(request.headers.get("Accept", "")):
            include = tables.include_object(request.query)
            resource_version = str(obj["metadata"]["resourceVersion"])
            return json_response(tables.table(rt, [obj], resource_version, include))
        return json_response(obj)

    def _list(self, request: web.Request, target: Target, query: dict[str, str]) -> web.Response:
        check_list_options(query, watching=False)
        limit = _int_param(query, "limit")
        result = self.service.list_objects(
            target.rt,
            target.namespace,
            query.get("labelSelector"),
            query.get("fieldSelector"),
            limit,
            query.get("continue"),
        )
        metadata: dict[str, Any] = {"resourceVersion": result.resource_version}
        if result.continue_token:
            metadata["continue"] = result.continue_token
        if result.remaining is not None:
            metadata["remainingItemCount"] = result.remaining
        if tables.wants_table(request.headers.get("Accept", "")):
            include = tables.include_object(query)
            table = tables.table(target.rt, result.items, result.resource_version, include)
            table["metadata"].update(metadata)
            return json_response(table)
        return json_response(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": metadata,
                "items": result.items,
            }
        )

    async def _create(
        self, request: web.Request, target: Target, query: dict[str, str]
    ) -> web.Response:
        body = await read_body(request)
        obj = self.service.create(
            target.rt,
            target.ns,
            body,
            _dry_run(query),
            _field_validation(query),
            _field_manager(request, query),
        )
        return self._written(obj, 201)

    async def _delete_collection(
        self, request: web.Request, target: Target, query: dict[str, str]
    ) -> web.Response:
        body = await _delete_options(request)
        deleted = self.service.delete_collection(
            target.rt,
            target.namespace,
            query.get("labelSelector"),
            query.get("fieldSelector"),
            DeleteOptions.parse(body, query),
        )
        return json_response(
            {
                "kind": f"{target.rt.kind}List",
                "apiVersion": target.rt.api_version,
                "metadata": {},
                "items": deleted,
            }
        )

    # --- watch -----------------------------------------------------------------------------------

    async def _watch(
        self, request: web.Request, target: Target, query: dict[str, str]
    ) -> web.StreamResponse:
        rt, namespace = target.rt, target.namespace
        matches = object_filter(
            LabelSelector.parse(query.get("labelSelector")),
            FieldSelector.parse(query.get("fieldSelector"), rt.field_selectors),
        )
        timeout = _int_param(query, "timeoutSeconds") or _DEFAULT_WATCH_SECONDS
        deadline = time.monotonic() + timeout
        bookmarks = query.get("allowWatchBookmarks") in ("1", "true")
        check_list_options(query, watching=True)
        send_initial = query.get("sendInitialEvents") == "true"
        # Without sendInitialEvents, resourceVersion 0 or unset starts with the current state.
        with_state = send_initial or query.get("sendInitialEvents") is None
        # Table events carry what `includeObject` asks for; None: plain objects.
        as_table = (
            tables.include_object(query)
            if tables.wants_table(request.headers.get("Accept", ""))
            else None
        )
        since = query.get("resourceVersion") or "0"
        if not since.isdigit():
            raise errors.bad_request(f'resourceVersion: Invalid value: "{since}"')
        store = self.service.store
        # Subscribe and take the starting events in one step, so nothing falls in between.
        subscription = self.service.hub.subscribe(rt.storage_key)
        response: web.StreamResponse | None = None
        try:
            initial: list[tuple[str, dict[str, Any]]] = []
            if send_initial or (since == "0" and with_state):
                for obj in store.items(rt.storage_key, namespace if rt.namespaced else None):
                    if matches(obj):
                        initial.append(("ADDED", obj))
            elif since == "0":
                pass  # sendInitialEvents=false: from now on
            elif int(since) < store.compacted:
                self.service.hub.unsubscribe(subscription)
                response = await self._start_stream(request)
                gone = errors.expired(f"too old resource version: {since} ({store.compacted + 1})")
                await _send(response, "ERROR", gone.status())
                return response
            else:
                for change in store.changes_since(int(since), rt.storage_key):
                    event = watch_event(change, namespace if rt.namespaced else None, matches)
                    if event:
                        initial.append(event)
            last_rv = store.resource_version
            initial = [(kind, self._shown(rt, obj, as_table)) for kind, obj in initial]
            response = await self._start_stream(request)
            if send_initial:
                initial.append(("BOOKMARK", self._bookmark(rt, last_rv, initial_end=True)))
            # One write for the lot: a client gone meanwhile is noticed once, not per event
            # (over TLS, a burst of writes would go on into the dead socket).
            await _send_all(response, initial)
            await self._stream(
                request,
                response,
                subscription,
                target,
                matches,
                as_table,
                deadline,
                bookmarks,
                last_rv,
            )
            return response
        except ConnectionResetError:
            # The client went away: a real API server ends the watch without a word.
            return response if response is not None else web.Response()
        finally:
            self.service.hub.unsubscribe(subscription)

    async def _stream(
        self,
        request: web.Request,
        response: web.StreamResponse,
        subscription: Subscription,
        target: Target,
        matches: Callable[[dict[str, Any]], bool],
        as_table: str | None,
        deadline: float,
        bookmarks: bool,
        last_rv: int,
    ) -> None:
        rt = target.rt
        namespace = target.namespace if rt.namespaced else None
        store = self.service.store
        next_bookmark = (
            next_bookmark_time(time.monotonic(), self.bookmark_seconds, deadline)
            if bookmarks
            else None
        )
        while True:
            now = time.monotonic()
            if now >= deadline or request.transport is None or request.transport.is_closing():
                return
            if next_bookmark is not None and now >= next_bookmark and subscription.queue.empty():
                # Every change up to the store's version has been sent: resume from there.
                rv = max(last_rv, store.resource_version)
                await _send(response, "BOOKMARK", self._bookmark(rt, rv))
                next_bookmark = next_bookmark_time(now, self.bookmark_seconds, deadline)
            wait = (deadline if next_bookmark is None else next_bookmark) - now
            try:
                change: Change | None = await asyncio.wait_for(
                    subscription.queue.get(), timeout=max(0.01, min(wait, _IDLE_CHECK_SECONDS))
                )
            except TimeoutError:
                continue
            if change is None:
                return
            if change.rv <= last_rv:
                continue
            last_rv = change.rv
            event = watch_event(change, namespace, matches)
            if event is not None:
                await _send(response, event[0], self._shown(rt, event[1], as_table))

    def _shown(self, rt: ResourceType, obj: dict[str, Any], as_table: str | None) -> dict[str, Any]:
        shown = self.service.present(rt, copied(obj))
        if as_table is not None:
            return tables.table(rt, [shown], shown["metadata"]["resourceVersion"], as_table)
        return shown

    def _bookmark(self, rt: ResourceType, rv: int, initial_end: bool = False) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": str(rv)}
        if initial_end:
            metadata["annotations"] = {"k8s.io/initial-events-end": "true"}
        return {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": metadata}

    async def _start_stream(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        return response


async def _send(response: web.StreamResponse, kind: str, obj: dict[str, Any]) -> None:
    await _send_all(response, [(kind, obj)])


async def _send_all(response: web.StreamResponse, events: list[tuple[str, dict[str, Any]]]) -> None:
    if not events:
        return
    lines = [json.dumps({"type": k, "object": o}, separators=(",", ":")) + "\n" for k, o in events]
    await response.write("".join(lines).encode())


def _field_manager(request: web.Request, query: dict[str, str]) -> str:
    """The manager of a write: `fieldManager`, else the User-Agent up to its first '/'
    (fieldmanager's `prefixFromUserAgent`), at most 128 characters."""
    given = query.get("fieldManager")
    if given:
        return given
    return request.headers.get("User-Agent", "unknown").split("/")[0][:128] or "unknown"


def _dry_run(query: dict[str, str]) -> bool:
    value = query.get("dryRun")
    if value not in (None, "", "All"):
        raise errors.bad_request(f'dryRun: Unsupported value: "{value}": supported values: "All"')
    return value == "All"


def _field_validation(query: dict[str, str]) -> str:
    value = query.get("fieldValidation") or "Warn"
    if value not in ("Strict", "Warn", "Ignore"):
        raise errors.bad_request(
            f'fieldValidation: Unsupported value: "{value}": supported values: '
            '"Ignore", "Strict", "Warn"'
        )
    return value


def _content_type(request: web.Request) -> str:
    return request.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _int_param(query: dict[str, str], name: str) -> int | None:
    value = query.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(str(value))
    except ValueError as error:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be an integer') from error
    if number < 0:
        raise errors.bad_request(f'{name}: Invalid value: "{value}": must be 0 or more')
    return number


def _decode(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise errors.bad_request(f"the body is neither JSON nor YAML: {error}") from error


async def _delete_options(request: web.Request) -> dict[str, Any]:
    """The DeleteOptions body of a delete (none: {})."""
    if not (await request.read()).strip():
        return {}
    body = await read_body(request)
    if not isinstance(body, dict):
        raise errors.bad_request("the body of a delete must be a DeleteOptions object")
    return body


async def read_body(request: web.Request) -> Any:
    content_type = _content_type(request)
    if content_type == protobuf.PROTOBUF:
        try:
            return protobuf.decode(await request.read())
        except (protobuf.ProtobufError, UnicodeDecodeError) as error:
            kinds = ", ".join(protobuf.DECODABLE_KINDS)
            accepted = ["application/json", "application/yaml", f"{protobuf.PROTOBUF} ({kinds})"]
            raise errors.unsupported_media_type(content_type, accepted, str(error)) from error
    if content_type not in _BODY_TYPES:
        raise errors.unsupported_media_type(content_type, ["application/json", "application/yaml"])
    raw = await request.read()
    if not raw.strip():
        raise errors.bad_request("the request has no body")
    return _decode(raw)
