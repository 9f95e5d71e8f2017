"""The shape every sandbox controller shares: informers feed a work queue, one worker reconciles."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Mapping
from typing import Any

from modeldeploy.sandbox.controllers.client import API_ERRORS, PODS, ApiError, Kind, KubeClient, Obj
from modeldeploy.sandbox.controllers.informer import Informer, WorkQueue

log = logging.getLogger(__name__)
# Errors a reconcile is retried after (with a per-key exponential back-off).
_RETRIED: tuple[type[Exception], ...] = (*API_ERRORS, OSError, ValueError)


def controller_owner(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    """The ownerReference with controller=true and the given kind, if any."""
    for reference in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if reference.get("controller") and reference.get("kind") == kind:
            return dict(reference)
    return None


def owner_reference(owner: Obj, api_version: str, kind: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: Mapping[str, Any], owner: Obj, kind: str) -> bool:
    reference = controller_owner(obj, kind)
    return reference is not None and reference.get("uid") == owner["metadata"].get("uid")


def owned_objects(informer: Informer, owner: Obj, kind: str) -> list[Obj]:
    """Cached objects whose controller is `owner` (an object of `kind`), oldest first."""
    namespace = owner["metadata"]["namespace"]
    return sorted(
        (
            obj
            for obj in informer.items()
            if obj["metadata"].get("namespace") == namespace and is_owned_by(obj, owner, kind)
        ),
        key=lambda obj: (
            str(obj["metadata"].get("creationTimestamp", "")),
            obj["metadata"]["name"],
        ),
    )


class Controller:
    """Subclasses set up informers in __init__ and implement `reconcile(key)`.

    `reconcile` returns seconds after which to look again (None: only on the next event).
    API errors are retried with an exponential back-off per key.
    """

    name = "controller"

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self.queue = WorkQueue()
        self.informers: list[Informer] = []
        self._failures: dict[str, int] = {}

    def informer(self, informer: Informer) -> Informer:
        self.informers.append(informer)
        return informer

    def enqueue_object(self, _event: str, obj: Obj) -> None:
        metadata = obj.get("metadata") or {}
        self.queue.add(f"{metadata.get('namespace')}/{metadata.get('name')}")

    def enqueue_owner(self, obj: Obj, kind: str) -> None:
        reference = controller_owner(obj, kind)
        if reference is not None:
            self.queue.add(f"{obj['metadata'].get('namespace')}/{reference['name']}")

    async def reconcile(self, key: str) -> float | None:
        raise NotImplementedError

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                again = await self.reconcile(key)
                self._failures.pop(key, None)
                if again is not None:
                    self.queue.add_after(key, again)
            except _RETRIED as error:
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                if not (isinstance(error, ApiError) and error.status == 409):
                    log.warning("%s %s: %s", self.name, key, error)
                self.queue.add_after(key, min(0.05 * 2**failures, 10.0))
            finally:
                self.queue.done(key)

    async def run(self) -> None:
        tasks = [asyncio.create_task(informer.run()) for informer in self.informers]
        try:
            await asyncio.gather(*(informer.synced.wait() for informer in self.informers))
            await self._work()
        finally:
            self.queue.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def run_until_stopped(stop: asyncio.Event, *jobs: Coroutine[Any, Any, None]) -> None:
    """Runs `jobs` (each meant to run forever) until `stop` is set or one of them ends, raising
    its error if it failed; cancels the rest."""
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(job) for job in jobs]
    stopped: asyncio.Task[Any] = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([stopped, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
    finally:
        for task in [*tasks, stopped]:
            task.cancel()
        await asyncio.gather(*tasks, stopped, return_exceptions=True)


class PodOwnerController(Controller):
    """A controller of the pods that objects of one kind own (ReplicaSet, Job)."""

    def __init__(self, client: KubeClient, owner_resource: Kind, owner_kind: str) -> None:
        super().__init__(client)
        self.owner_kind = owner_kind
        self.owners = self.informer(Informer(client, owner_resource))
        self.pods = self.informer(Informer(client, PODS))
        self.owners.on_change(self.enqueue_object)
        self.pods.on_change(lambda _event, pod: self.enqueue_owner(pod, owner_kind))

    def owned_pods(self, owner: Obj) -> list[Obj]:
        return owned_objects(self.pods, owner, self.owner_kind)

    async def delete_pod(self, namespace: str, name: str) -> None:
        answer = await self.client.delete_if_present(PODS.path(namespace, name))
        if answer is not None and answer.get("kind") == "Pod":
            self.pods.remember(answer)  # now Terminating: no longer counted as active
