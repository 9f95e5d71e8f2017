"""The running operator: the cache, the work queue and the workers over the reconciler."""

from __future__ import annotations

import asyncio
import json
import logging
import random

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from modeldeploy.controller import metrics
from modeldeploy.controller.cache import Cache, Key
from modeldeploy.controller.queue import WorkQueue
from modeldeploy.controller.reconcile import Reconciler
from modeldeploy.reconcilers.cluster import StaleStatusError

log = logging.getLogger("modeldeploy.operator")
WORKERS = 4
# Retry delays after a failed pass (seconds), with jitter so a failing API is not hammered.
BACKOFF = (0.5, 1, 2, 5, 10, 30)


def api_failure(error: ApiException) -> str:
    """One line for a refused call: the code, reason and the Status message that names it."""
    raw = error.body or b""
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        body = json.loads(text or "{}")
        message = str(body.get("message", "")) if isinstance(body, dict) else text[:500]
    except ValueError:
        message = text[:500]
    return f"API error {error.status} {error.reason}: {message or 'no message'}"


class Operator:
    def __init__(self, reconciler: Reconciler) -> None:
        self.reconciler = reconciler
        self.cache: Cache = reconciler.cache
        self.queue: WorkQueue[Key] = WorkQueue()
        self._failures: dict[Key, int] = {}
        # The refusal last reported on each resource, so that a retry does not repeat it.
        self._forbidden: dict[Key, str] = {}
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work()) for _ in range(WORKERS)]

    async def stop(self) -> None:
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                await self._once(key)
            finally:
                self.queue.done(key)

    async def _once(self, key: Key) -> None:
        try:
            again = await self.reconciler.reconcile(key)
        except StaleStatusError:
            # Someone wrote the resource meanwhile: its watch event brings the new version;
            # the fallback re-read covers a dropped watch.
            metrics.RECONCILES.labels(result="conflict").inc()
            await self._refresh(key)
            self.queue.add_after(key, 0.2)
            return
        except ApiException as error:
            why = api_failure(error)
            self._retry(key, why)
            if error.status == 403:
                await self._report_forbidden(key, why)
            return
        except (HTTPError, OSError) as error:
            self._retry(key, f"API unreachable: {error}")
            return
        except Exception:  # one broken resource never stops the others
            log.exception("reconcile of %s/%s failed", *key)
            self._retry(key, "unexpected error")
            return
        metrics.RECONCILES.labels(result="ok").inc()
        self._failures.pop(key, None)
        self._forbidden.pop(key, None)
        if again is not None:
            self.queue.add_after(key, again)

    def _retry(self, key: Key, why: str) -> None:
        metrics.RECONCILES.labels(result="error").inc()
        failures = self._failures.get(key, 0)
        self._failures[key] = failures + 1
        delay = BACKOFF[min(failures, len(BACKOFF) - 1)] * random.uniform(0.8, 1.2)
        log.warning("%s/%s: %s; retrying in %.1fs", key[0], key[1], why.strip(), delay)
        self.queue.add_after(key, delay)

    async def _report_forbidden(self, key: Key, why: str) -> None:
        """A Warning event on the resource: RBAC refused the operator something it needs."""
        resource = self.cache.resources.get(key)
        if resource is None or self._forbidden.get(key) == why:
            return
        self._forbidden[key] = why
        message = f"the operator's service account lacks a permission: {why}"
        await asyncio.to_thread(
            self.reconciler.cluster.event, resource, "Warning", "Forbidden", message
        )

    async def _refresh(self, key: Key) -> None:
        try:
            fresh = await asyncio.to_thread(self.reconciler.cluster.get_resource, *key)
        except (ApiException, HTTPError, OSError):
            return
        if fresh is None:
            self.cache.resources.pop(key, None)
        else:
            self.cache.put_resource(fresh, deleted=False)
