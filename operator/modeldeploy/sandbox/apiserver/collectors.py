"""What kube-controller-manager and apiextensions do after deletes, run inside the server:
owner-reference garbage collection (background, foreground, orphan), namespace deletion
and the removal of custom objects whose CRD is deleted.

One pass looks at every stored object; passes run after writes until nothing changes.
"""

from __future__ import annotations

import copy
from typing import Any

from modeldeploy.sandbox.apiserver.customresources import CLEANUP_FINALIZER
from modeldeploy.sandbox.apiserver.errors import ApiError
from modeldeploy.sandbox.apiserver.options import DeleteOptions
from modeldeploy.sandbox.apiserver.resources import ResourceType
from modeldeploy.sandbox.apiserver.service import CRD_KEY, NAMESPACE_KEY, ApiService

Entry = tuple[ResourceType, dict[str, Any]]


def _meta(obj: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = obj["metadata"]
    return meta


class Collectors:
    def __init__(self, service: ApiService) -> None:
        self.service = service

    def run_pass(self) -> None:
        """One round of every collector (each write it makes schedules another round)."""
        entries = self._entries()
        self._finish_namespaces(entries)
        self._finish_crds(entries)
        self._collect_garbage(entries)

    def _entries(self) -> list[Entry]:
        entries: list[Entry] = []
        for key in self.service.store.stored_keys():
            rt = self.service.type_for_key(key)
            if rt is None:
                continue  # objects of a CRD being removed: handled by _finish_crds
            # The stored objects themselves: a collector copies one before changing it.
            entries += [(rt, obj) for obj in self.service.store.items(key)]
        return entries

    def _delete(self, rt: ResourceType, obj: dict[str, Any], policy: str) -> None:
        meta = _meta(obj)
        try:
            self.service.delete(
                rt, meta.get("namespace") or "", meta["name"], DeleteOptions(propagation=policy)
            )
        except ApiError as error:
            if error.code != 404:
                raise

    def _update(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        meta = _meta(obj)
        try:
            self.service.update(rt, meta.get("namespace") or "", meta["name"], obj)
        except ApiError as error:
            if error.code not in (404, 409):
                raise

    def _drop_finalizer(self, rt: ResourceType, obj: dict[str, Any], finalizer: str) -> None:
        obj = copy.deepcopy(obj)
        meta = _meta(obj)
        meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]
        self._update(rt, obj)

    # --- namespaces ------------------------------------------------------------------------------

    def _finish_namespaces(self, entries: list[Entry]) -> None:
        for rt, namespace in entries:
            if rt.storage_key != NAMESPACE_KEY or not _meta(namespace).get("deletionTimestamp"):
                continue
            name = _meta(namespace)["name"]
            content = [
                (t, o) for t, o in entries if t.namespaced and _meta(o).get("namespace") == name
            ]
            for content_rt, obj in content:
                if not _meta(obj).get("deletionTimestamp"):
                    self._delete(content_rt, obj, "Background")
            if not content and (namespace.get("spec") or {}).get("finalizers"):
                namespace = copy.deepcopy(namespace)
                namespace["spec"]["finalizers"] = []
                meta = _meta(namespace)
                self.service.update(rt, "", meta["name"], namespace, subresource="finalize")

    # --- custom resource definitions -------------------------------------------------------------

    def _finish_crds(self, entries: list[Entry]) -> None:
        for rt, crd in entries:
            meta = _meta(crd)
            if rt.storage_key != CRD_KEY or not meta.get("deletionTimestamp"):
                continue
            if CLEANUP_FINALIZER not in (meta.get("finalizers") or []):
                continue
            spec = crd.get("spec") or {}
            key = (str(spec.get("group")), str((spec.get("names") or {}).get("plural")))
            remaining = list(self.service.store.items(key))
            served = next((t for t in self.service.types() if t.storage_key == key), None)
            if served is not None:
                for obj in remaining:
                    if not _meta(obj).get("deletionTimestamp"):
                        self._delete(served, obj, "Background")
            if not remaining:
                self._drop_finalizer(rt, crd, CLEANUP_FINALIZER)

    # --- owner references ------------------------------------------------------------------------

    def _collect_garbage(self, entries: list[Entry]) -> None:
        by_uid = {_meta(obj)["uid"]: (rt, obj) for rt, obj in entries}
        dependents: dict[str, list[Entry]] = {}
        for rt, obj in entries:
            for ref in _meta(obj).get("ownerReferences") or []:
                dependents.setdefault(str(ref.get("uid")), []).append((rt, obj))
        for uid, (rt, owner) in by_uid.items():
            finalizers = _meta(owner).get("finalizers") or []
            if not _meta(owner).get("deletionTimestamp"):
                continue
            if "orphan" in finalizers:
                self._orphan(rt, owner, dependents.get(uid, []))
            elif "foregroundDeletion" in finalizers:
                self._delete_in_foreground(rt, owner, dependents.get(uid, []), dependents)
        for rt, obj in entries:
            refs = _meta(obj).get("ownerReferences") or []
            if not refs or _meta(obj).get("deletionTimestamp"):
                continue
            absent = [ref for ref in refs if str(ref.get("uid")) not in by_uid]
            if absent and len(absent) == len(refs):
                self._delete(rt, obj, "Background")
            elif absent:
                obj = copy.deepcopy(obj)
                _meta(obj)["ownerReferences"] = [ref for ref in refs if ref not in absent]
                self._update(rt, obj)

    def _orphan(self, rt: ResourceType, owner: dict[str, Any], deps: list[Entry]) -> None:
        uid = _meta(owner)["uid"]
        for dep_rt, stored in deps:
            dep = copy.deepcopy(stored)
            refs = _meta(dep).get("ownerReferences") or []
            _meta(dep)["ownerReferences"] = [ref for ref in refs if ref.get("uid") != uid]
            if not _meta(dep)["ownerReferences"]:
                del _meta(dep)["ownerReferences"]
            self._update(dep_rt, dep)
        self._drop_finalizer(rt, owner, "orphan")

    def _delete_in_foreground(
        self,
        rt: ResourceType,
        owner: dict[str, Any],
        deps: list[Entry],
        dependents: dict[str, list[Entry]],
    ) -> None:
        """Delete the dependents first; the owner goes once no blocking dependent is left."""
        uid = _meta(owner)["uid"]
        for dep_rt, dep in deps:
            if not _meta(dep).get("deletionTimestamp"):
                has_own = bool(dependents.get(_meta(dep)["uid"]))
                self._delete(dep_rt, dep, "Foreground" if has_own else "Background")
        blocking = [
            dep
            for _, dep in deps
            if any(
                ref.get("uid") == uid and ref.get("blockOwnerDeletion")
                for ref in _meta(dep).get("ownerReferences") or []
            )
        ]
        if not blocking:
            self._drop_finalizer(rt, owner, "foregroundDeletion")
