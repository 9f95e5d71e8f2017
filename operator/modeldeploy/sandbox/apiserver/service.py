"""Object semantics of the API: create, read, update, patch, delete, as kube-apiserver does them.

Every method runs to completion without awaiting, on the server's event-loop thread, so
each call is one atomic step against the store (see `store.py`).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from modeldeploy.sandbox.apiserver import (
    builtins,
    clusterips,
    customresources,
    defaults,
    errors,
    events,
    immutable,
    schemas,
)
from modeldeploy.sandbox.apiserver.apply import (
    APPLY_PATCH,
    ApplyConflictError,
    check_field_manager,
    server_side_apply,
    track_update,
)
from modeldeploy.sandbox.apiserver.errors import ApiError, FieldCause
from modeldeploy.sandbox.apiserver.options import DeleteOptions
from modeldeploy.sandbox.apiserver.patch import PatchError, apply_patch, patch_types
from modeldeploy.sandbox.apiserver.resources import BUILTIN_TYPES, ResourceType
from modeldeploy.sandbox.apiserver.selectors import FieldSelector, LabelSelector, object_filter
from modeldeploy.sandbox.apiserver.store import Change, Key, Store, copied
from modeldeploy.sandbox.apiserver.watch import WatchHub

CRD_KEY: Key = ("apiextensions.k8s.io", "customresourcedefinitions")
NAMESPACE_KEY: Key = ("", "namespaces")
SERVICE_KEY: Key = ("", "services")
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_SYSTEM_FINALIZERS = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}


def random_suffix() -> str:
    """Five characters as utilrand.String gives them (generateName, volume names)."""
    return "".join(random.choices(_NAME_SUFFIX_ALPHABET, k=5))


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def later(seconds: int) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ListResult:
    items: list[dict[str, Any]]
    resource_version: str
    continue_token: str | None
    remaining: int | None


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        raise errors.bad_request("the object has no metadata")
    return meta


def _without(obj: dict[str, Any], *fields: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in fields}


class ApiService:
    def __init__(self, store: Store, hub: WatchHub) -> None:
        self.store = store
        self.hub = hub
        self._on_change: list[Callable[[Change], None]] = []
        # Warnings for the request being served (reset by the HTTP layer before each call).
        self.warnings: list[str] = []
        # Admission plugins run first on every create and update: (type, object, old) ->
        # None, mutating the object or raising an ApiError (the server adds its auth plugins).
        self.admission_plugins: list[
            Callable[[ResourceType, dict[str, Any], dict[str, Any] | None], None]
        ] = []
        self._custom: dict[tuple[str, str, str], ResourceType] = {}
        self._builtin = {(t.group, t.version, t.plural): t for t in BUILTIN_TYPES}
        self.refresh_custom_types()
        for name in SYSTEM_NAMESPACES:
            if self.store.get(NAMESPACE_KEY, ("", name)) is None:
                self.create(self.resolve("", "v1", "namespaces"), "", {"metadata": {"name": name}})

    # --- resource types ------------------------------------------------------------------------

    def subscribe_changes(self, callback: Callable[[Change], None]) -> None:
        self._on_change.append(callback)

    def refresh_custom_types(self) -> None:
        served: dict[tuple[str, str, str], ResourceType] = {}
        for crd in self.store.items(CRD_KEY):
            for rt in customresources.types_of(crd):
                served[(rt.group, rt.version, rt.plural)] = rt
        self._custom = served

    def types(self) -> list[ResourceType]:
        return [*BUILTIN_TYPES, *self._custom.values()]

    def find(self, group: str, version: str, plural: str) -> ResourceType | None:
        key = (group, version, plural)
        return self._builtin.get(key) or self._custom.get(key)

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        rt = self.find(group, version, plural)
        if rt is None:
            raise errors.path_not_found()
        return rt

    def type_for_key(self, key: Key) -> ResourceType | None:
        """The resource type that owns a storage key (used by the collectors)."""
        for rt in self.types():
            if rt.storage_key == key and rt.storage_group is None:
                return rt
        return None

    def custom_schemas(self, group: str, version: str) -> dict[str, dict[str, Any]]:
        """kind -> openAPIV3Schema of the CRDs serving `group/version`."""
        schemas = {}
        for crd in self.store.items(CRD_KEY):
            spec = crd.get("spec") or {}
            if spec.get("group") != group:
                continue
            schema = (customresources.crd_version(crd, version).get("schema") or {}).get(
                "openAPIV3Schema"
            )
            if isinstance(schema, dict):
                schemas[str((spec.get("names") or {}).get("kind"))] = schema
        return schemas

    def _crd_of(self, rt: ResourceType) -> dict[str, Any]:
        crd = self.store.peek(CRD_KEY, ("", f"{rt.plural}.{rt.group}"))
        if crd is None:
            raise errors.path_not_found()
        return crd

    # --- writes: the only paths into the store ------------------------------------------------

    def _commit(self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None) -> None:
        self._announce(self.store.write(rt.storage_key, obj, old))

    def _remove(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        change = self.store.remove(rt.storage_key, obj)
        self._announce(change)
        return self.present(rt, copied(change.obj))

    def _announce(self, change: Change) -> None:
        if change.key == CRD_KEY:
            self.refresh_custom_types()
        self.hub.publish(change)
        for callback in self._on_change:
            callback(change)

    def present(self, rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
        """The stored object as the requested version shows it (custom objects with the
        defaults of their CRD's current schema)."""
        if rt.group == "events.k8s.io":
            obj = events.from_core(obj)
        if rt.custom:
            crd = self.store.peek(CRD_KEY, ("", f"{rt.plural}.{rt.group}"))
            if crd is not None:
                customresources.default_on_read(crd, rt.version, obj)
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        return obj

    # --- reads -----------------------------------------------------------------------------------

    def _stored(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        """A copy of the stored object, or 404."""
        obj = self.store.get(rt.storage_key, (namespace if rt.namespaced else "", name))
        if obj is None:
            raise errors.not_found(rt.plural, rt.group, name)
        return obj

    def get(self, rt: ResourceType, namespace: str, name: str) -> dict[str, Any]:
        return self.present(rt, self._stored(rt, namespace, name))

    def list_objects(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        matches = object_filter(
            LabelSelector.parse(label_selector),
            FieldSelector.parse(field_selector, rt.field_selectors),
        )
        start = self._decode_continue(continue_token) if continue_token else None
        items: list[dict[str, Any]] = []
        remaining = 0
        next_token = None
        for obj in self.store.items(rt.storage_key, namespace if rt.namespaced else None):
            meta = obj["metadata"]
            position = [meta.get("namespace") or "", meta["name"]]
            if start is not None and position <= start:
                continue
            if not matches(obj):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(self.present(rt, copied(obj)))
            if limit and len(items) == limit:
                next_token = position
        token = None
        if remaining and next_token is not None:
            token = base64.urlsafe_b64encode(
                json.dumps({"rv": self.store.resource_version, "start": next_token}).encode()
            ).decode()
        return ListResult(
            items,
            str(self.store.resource_version),
            token,
            remaining if token and not label_selector and not field_selector else None,
        )

    def _decode_continue(self, token: str) -> list[str]:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            rv, start = int(state["rv"]), state["start"]
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise errors.bad_request(f"invalid continue token: {error}") from error
        if rv < self.store.compacted:
            raise errors.expired(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter."
            )
        return [str(part) for part in start]

    # --- create ----------------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str,
        body: Any,
        dry_run: bool = False,
        field_validation: str = "Warn",
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """Create `body`; `field_manager` (when given) owns every field of it (an Update)."""
        obj = self._check_body(rt, body)
        meta = _meta(obj)
        namespace = self._check_namespace(rt, namespace, meta)
        name = meta.get("name")
        if not name and meta.get("generateName"):
            name = meta["name"] = f"{meta['generateName']}{random_suffix()}"
        if not name:
            raise errors.invalid(
                rt.kind,
                rt.group,
                "",
                [
                    FieldCause(
                        "metadata.name",
                        "Required value: name or generateName is required",
                        "FieldValueRequired",
                    )
                ],
            )
        name = str(name)
        if self.store.get(rt.storage_key, (namespace, name)) is not None:
            raise errors.already_exists(rt.plural, rt.group, name)
        if rt.namespaced:
            self._check_namespace_open(rt, namespace, name)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta.update(
            {
                "uid": str(uuid.uuid4()),
                "creationTimestamp": now(),
                "generation": 1,
                "resourceVersion": "",
            }
        )
        if rt.has_status and rt.custom:
            obj.pop("status", None)
        obj = self._admit(rt, obj, None, field_validation)
        if field_manager:
            obj["metadata"]["managedFields"] = track_update(
                None, obj, field_manager, rt.api_version, not rt.custom
            )
        if dry_run:
            return obj
        self._commit(rt, obj, None)
        if rt.storage_key == NAMESPACE_KEY:
            # What the service account controller does for every new namespace.
            accounts = self.resolve("", "v1", "serviceaccounts")
            self.create(accounts, name, {"metadata": {"name": "default"}})
        return self.present(rt, obj)

    def _check_body(self, rt: ResourceType, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise errors.bad_request(f"the body must be a {rt.kind} object")
        kind = body.get("kind")
        api_version = body.get("apiVersion")
        if kind not in (None, "", rt.kind):
            raise errors.bad_request(
                f"the kind of the provided object ({kind}) does not match the kind of the "
                f"resource ({rt.kind})"
            )
        if api_version not in (None, "", rt.api_version):
            raise errors.bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
            )
        obj = copy.deepcopy(body)
        obj.setdefault("metadata", {})
        _meta(obj)
        obj["kind"] = rt.kind
        if rt.group == "events.k8s.io":
            # Stored as core/v1, like every Event.
            obj = events.to_core(obj)
            obj["apiVersion"] = "v1"
        else:
            obj["apiVersion"] = rt.api_version
        return obj

    def _check_namespace(self, rt: ResourceType, namespace: str, meta: dict[str, Any]) -> str:
        if not rt.namespaced:
            meta.pop("namespace", None)
            return ""
        given = meta.get("namespace")
        if given and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        meta["namespace"] = namespace
        return namespace

    def _check_namespace_open(self, rt: ResourceType, namespace: str, name: str) -> None:
        ns = self.store.get(NAMESPACE_KEY, ("", namespace))
        if ns is None:
            raise errors.not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                rt.plural,
                rt.group,
                name,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _admit(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        field_validation: str = "Warn",
    ) -> dict[str, Any]:
        """Defaults and validation: the object as it will be stored, or a 422.

        Unknown fields of custom objects are pruned; `field_validation` says what the client
        hears of them: Strict -> 400, Warn -> a warning, Ignore -> nothing.
        """
        if not rt.custom:
            obj = defaults.drop_nulls(obj)
        for plugin in self.admission_plugins:
            plugin(rt, obj, old)
        meta = obj["metadata"]
        causes: list[errors.Cause] = list(builtins.metadata_causes(rt.kind, meta))
        if causes:
            raise errors.invalid(rt.kind, rt.group, str(meta.get("name")), causes)
        if not rt.custom:
            unknown = schemas.prune_unknown_fields(rt.kind, obj)
            self._unknown_fields(rt, unknown, field_validation)
        if rt.custom:
            review = customresources.review_custom(self._crd_of(rt), rt.version, obj, old)
            self._unknown_fields(rt, review.unknown_fields, field_validation)
            obj = review.object
            causes += review.causes
        elif rt.storage_key == CRD_KEY:
            causes += customresources.validate_definition(obj)
            if not causes:
                customresources.establish(obj, now())
                if old is None:
                    meta.setdefault("finalizers", [customresources.CLEANUP_FINALIZER])
        else:
            try:
                causes += self._admit_builtin(rt, obj, old)
            except (AttributeError, TypeError, ValueError) as error:
                # A field of the wrong JSON type: upstream fails decoding it, with a 400.
                raise errors.bad_request(
                    f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                    f"a field has the wrong type ({error})"
                ) from error
        if causes:
            raise errors.invalid(rt.kind, rt.group, str(meta["name"]), causes)
        return obj

    def _admit_builtin(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> list[errors.Cause]:
        """Defaults, checks and (on updates) the immutable fields of a built-in kind."""
        causes: list[errors.Cause] = []
        builtin_admission = builtins.ADMISSION.get((rt.group, rt.kind))
        if builtin_admission is not None:
            causes += builtin_admission(obj, old is None)
        if rt.storage_key == SERVICE_KEY:
            meta = obj["metadata"]
            causes += clusterips.admit(
                obj["spec"], old and old.get("spec"), self._addresses_besides(meta)
            )
        if old is not None:
            # The stored object as today's defaults show it (kube-apiserver defaults what it
            # reads), so an object stored before a default existed still compares equal.
            current = defaults.drop_nulls(copy.deepcopy(old))
            if builtin_admission is not None:
                builtin_admission(current, False)
            causes += immutable.update_causes(rt.group, rt.kind, obj, current)
        return causes

    def _addresses_besides(self, meta: dict[str, Any]) -> set[str]:
        """The ClusterIPs held by every Service but the one named in `meta`."""
        this = (meta.get("namespace") or "", meta.get("name"))
        return {
            str(address)
            for service in self.store.items(SERVICE_KEY)
            if (service["metadata"].get("namespace"), service["metadata"]["name"]) != this
            for address in (service.get("spec") or {}).get("clusterIPs") or []
        }

    def _unknown_fields(self, rt: ResourceType, paths: list[str], field_validation: str) -> None:
        if not paths or field_validation == "Ignore":
            return
        listed = ", ".join(f'unknown field "{path}"' for path in paths)
        if field_validation == "Strict":
            raise errors.bad_request(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {listed}"
            )
        self.warnings += [f'unknown field "{path}"' for path in paths]

    # --- update and patch ------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Warn",
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        namespace = namespace if rt.namespaced else ""
        old = self.store.get(rt.storage_key, (namespace, name))
        if old is None and rt.create_on_update and subresource is None:
            return self.create(rt, namespace, body, dry_run, field_validation, field_manager)
        old = self._stored(rt, namespace, name)
        obj = self._check_body(rt, body)
        meta = _meta(obj)
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        self._check_namespace(rt, namespace, meta)
        given_rv = meta.get("resourceVersion")
        if not given_rv and rt.custom:
            raise errors.invalid(
                rt.kind,
                rt.group,
                name,
                [
                    FieldCause(
                        "metadata.resourceVersion",
                        "Invalid value: 0x0: must be specified for an update",
                    )
                ],
            )
        if given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name, errors.STALE_OBJECT)
        return self._replace(rt, old, obj, subresource, dry_run, field_validation, field_manager)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        subresource: str | None = None,
        dry_run: bool = False,
        field_validation: str = "Warn",
        field_manager: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """Patch; an apply patch is server-side apply by `field_manager` (`force`: take the
        fields other managers own), any other makes `field_manager` own what it changed."""
        if content_type == APPLY_PATCH:
            return self._apply(
                rt,
                namespace,
                name,
                patch,
                subresource,
                dry_run,
                field_validation,
                (field_manager, force),
            )
        old = self._stored(rt, namespace, name)
        current = self.present(rt, copied(old))
        accepted = patch_types(strategic=not rt.custom)
        if content_type not in accepted:
            raise errors.unsupported_media_type(content_type, [*accepted, APPLY_PATCH])
        try:
            patched = apply_patch(content_type, current, patch)
        except PatchError as error:
            raise errors.invalid(rt.kind, rt.group, name, [error.cause()]) from error
        if not isinstance(patched, dict) or not isinstance(patched.get("metadata"), dict):
            raise errors.bad_request("the patch removed the object's metadata")
        obj = self._check_body(rt, patched)
        obj["metadata"]["name"] = name
        given_rv = obj["metadata"].get("resourceVersion")
        if given_rv and given_rv != old["metadata"]["resourceVersion"]:
            raise errors.conflict(rt.plural, rt.group, name, errors.STALE_OBJECT)
        return self._replace(rt, old, obj, subresource, dry_run, field_validation, field_manager)

    def _apply(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        config: Any,
        subresource: str | None,
        dry_run: bool,
        field_validation: str,
        applier: tuple[str | None, bool],
    ) -> dict[str, Any]:
        """Server-side apply (see apply.py) by (manager, force): create the object or merge the
        configuration in."""
        field_manager, force = applier
        problems = check_field_manager(field_manager, apply=True)
        if problems or not field_manager:
            raise errors.invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                [
                    FieldCause("fieldManager", f"Required value: {p}", "FieldValueRequired")
                    for p in problems
                ],
            )
        obj = self._check_body(rt, config)
        if obj["metadata"].get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({obj['metadata'].get('name')}) does not match the name "
                f"on the URL ({name})"
            )
        obj["metadata"]["name"] = name
        strategic = not rt.custom
        old = self.store.get(rt.storage_key, (namespace if rt.namespaced else "", name))
        if old is None:
            if subresource is not None:
                raise errors.not_found(rt.plural, rt.group, name)
            try:
                created = server_side_apply(None, obj, field_manager, rt.api_version, strategic)
            except PatchError as error:
                raise errors.invalid(rt.kind, rt.group, name, [error.cause()]) from error
            return self.create(rt, namespace, created, dry_run, field_validation)
        current = self.present(rt, copied(old))
        try:
            applied = server_side_apply(
                current, obj, field_manager, rt.api_version, strategic, force
            )
        except PatchError as error:
            raise errors.invalid(rt.kind, rt.group, name, [error.cause()]) from error
        except ApplyConflictError as error:
            pairs = [(c.path, c.manager) for c in error.conflicts]
            raise errors.apply_conflict(pairs) from error
        applied = self._check_body(rt, applied)
        return self._replace(rt, old, applied, subresource, dry_run, field_validation)

    def _replace(
        self,
        rt: ResourceType,
        old: dict[str, Any],
        obj: dict[str, Any],
        subresource: str | None,
        dry_run: bool,
        field_validation: str = "Warn",
        field_manager: str | None = None,
    ) -> dict[str, Any]:
        """The shared end of update and patch: carry over what clients cannot change;
        `field_manager` (Update operations) owns the fields the write changes."""
        old_meta = old["metadata"]
        if subresource == "finalize":
            finalizers = (obj.get("spec") or {}).get("finalizers") or []
            obj = copy.deepcopy(old)
            obj.setdefault("spec", {})["finalizers"] = finalizers
        elif subresource == "status":
            # Status writes change only status (and may drop finalizers), nothing else.
            status = obj.get("status")
            obj = copy.deepcopy(old)
            obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
            if status is None:
                obj.pop("status", None)
            else:
                obj["status"] = status
        elif rt.has_status:
            if "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            else:
                obj.pop("status", None)
        meta = obj["metadata"]
        if meta.get("uid") and meta["uid"] != old_meta["uid"]:
            # ValidateObjectMetaUpdate: an update names the object it read, or none.
            cause = FieldCause(
                "metadata.uid", f'Invalid value: "{meta["uid"]}": field is immutable'
            )
            raise errors.invalid(rt.kind, rt.group, str(old_meta["name"]), [cause])
        for field in (
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "namespace",
            "name",
            "generation",
            "resourceVersion",
        ):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        if "managedFields" not in meta and "managedFields" in old_meta:
            meta["managedFields"] = old_meta["managedFields"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise errors.invalid(
                    rt.kind,
                    rt.group,
                    meta["name"],
                    [
                        FieldCause(
                            "metadata.finalizers",
                            "Forbidden: no new finalizers can be added if the object is being "
                            "deleted, found new finalizers " + json.dumps(sorted(added)),
                            "FieldValueForbidden",
                        )
                    ],
                )
        if subresource != "status" or rt.custom:
            previous = self.present(rt, copy.deepcopy(old))
            obj = self._admit(rt, obj, previous, field_validation)
            meta = obj["metadata"]
        if _without(obj, "metadata", "status", "apiVersion", "kind") != _without(
            old, "metadata", "status", "apiVersion", "kind"
        ):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        if field_manager:
            meta["managedFields"] = track_update(
                old, obj, field_manager, rt.api_version, not rt.custom, subresource
            )
            if not meta["managedFields"]:
                meta.pop("managedFields")
        unchanged = _without(obj, "apiVersion", "kind") == _without(old, "apiVersion", "kind")
        if dry_run or unchanged:
            return self.present(rt, obj)
        if self._releasable(rt, obj):
            return self._remove(rt, obj)
        self._commit(rt, obj, old)
        return self.present(rt, obj)

    def _releasable(self, rt: ResourceType, obj: dict[str, Any]) -> bool:
        """Marked for deletion and nothing holds it any more: the write that freed it deletes it.

        A pod its node is still stopping is held by the node (it deletes it with grace 0);
        a namespace is held by its `spec.finalizers` until its content is gone.
        """
        meta = obj["metadata"]
        if not meta.get("deletionTimestamp") or meta.get("finalizers"):
            return False
        stopping_pod = (
            rt.storage_key == ("", "pods")
            and bool(meta.get("deletionGracePeriodSeconds"))
            and bool((obj.get("spec") or {}).get("nodeName"))
        )
        return not stopping_pod and not self._namespace_pending(rt, obj)

    # --- delete ----------------------------------------------------------------------------------

    def delete(
        self, rt: ResourceType, namespace: str, name: str, options: DeleteOptions
    ) -> tuple[dict[str, Any], bool]:
        """Delete or mark for deletion; returns the object and whether it is gone already."""
        old = self._stored(rt, namespace, name)
        meta = old["metadata"]
        if options.precondition_uid and options.precondition_uid != meta["uid"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {options.precondition_uid}, "
                f"UID in object meta: {meta['uid']}",
            )
        if options.precondition_rv and options.precondition_rv != meta["resourceVersion"]:
            raise errors.conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: ResourceVersion in precondition: "
                f"{options.precondition_rv}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
            )
        obj = copy.deepcopy(old)
        meta = obj["metadata"]
        policy = options.propagation or rt.default_propagation
        finalizers = list(meta.get("finalizers") or [])
        system = _SYSTEM_FINALIZERS.get(policy)
        if system and system not in finalizers and not meta.get("deletionTimestamp"):
            finalizers.append(system)
        if rt.storage_key == NAMESPACE_KEY:
            if not meta.get("deletionTimestamp"):
                meta["deletionTimestamp"] = now()
                meta["deletionGracePeriodSeconds"] = 0
                obj.setdefault("status", {})["phase"] = "Terminating"
            finalizers = finalizers or []
        grace = self._grace_period(rt, obj, options)
        if grace:
            if meta.get("deletionGracePeriodSeconds", grace + 1) > grace:
                meta["deletionTimestamp"] = later(grace)
                meta["deletionGracePeriodSeconds"] = grace
        elif finalizers or self._namespace_pending(rt, obj):
            meta.setdefault("deletionTimestamp", now())
            meta.setdefault("deletionGracePeriodSeconds", 0)
        else:
            if options.dry_run:
                return self.present(rt, obj), True
            return self._remove(rt, obj), True
        if finalizers:
            meta["finalizers"] = finalizers
        if options.dry_run or obj == old:
            return self.present(rt, obj), False
        self._commit(rt, obj, old)
        return self.present(rt, obj), False

    def _namespace_pending(self, rt: ResourceType, obj: dict[str, Any]) -> bool:
        return rt.storage_key == NAMESPACE_KEY and bool((obj.get("spec") or {}).get("finalizers"))

    def _grace_period(self, rt: ResourceType, obj: dict[str, Any], options: DeleteOptions) -> int:
        """Seconds a pod bound to a node gets to stop; 0 for everything else."""
        if rt.storage_key != ("", "pods"):
            return 0
        spec = obj.get("spec") or {}
        if not spec.get("nodeName"):
            return 0
        if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return 0
        grace = options.grace_seconds
        if grace is None:
            grace = int(spec.get("terminationGracePeriodSeconds", 30))
        return max(grace, 0)

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
        options: DeleteOptions,
    ) -> list[dict[str, Any]]:
        listed = self.list_objects(rt, namespace, label_selector, field_selector)
        deleted = []
        for item in listed.items:
            meta = item["metadata"]
            try:
                obj, _ = self.delete(rt, meta.get("namespace") or "", meta["name"], options)
            except ApiError as error:
                if error.code != 404:
                    raise
                continue
            deleted.append(obj)
        return deleted

    # --- subresources ----------------------------------------------------------------------------

    def bind(self, namespace: str, name: str, binding: Any) -> None:
        """`pods/binding`: assign a pod to a node, once."""
        pods = self.resolve("", "v1", "pods")
        if not isinstance(binding, dict):
            raise errors.bad_request("the body must be a Binding object")
        target = binding.get("target") or {}
        node = target.get("name")
        if not node:
            raise errors.invalid(
                "Binding",
                "",
                name,
                [FieldCause("target.name", "Required value", "FieldValueRequired")],
            )
        pod = self.get(pods, namespace, name)
        current = pod["spec"].get("nodeName")
        if current:
            raise errors.conflict(
                "pods", "", name, f'pod {name} is already assigned to node "{current}"'
            )
        if pod["metadata"].get("deletionTimestamp"):
            raise errors.conflict("pods", "", name, "pod is being deleted, cannot be assigned")
        old = copy.deepcopy(pod)
        pod["spec"]["nodeName"] = str(node)
        conditions = [
            c
            for c in pod.setdefault("status", {}).get("conditions") or []
            if c.get("type") != "PodScheduled"
        ]
        conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now()})
        pod["status"]["conditions"] = conditions
        self._commit(pods, pod, old)
