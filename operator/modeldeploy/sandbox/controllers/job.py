"""Job controller: runs pods until enough succeed, applying `jobplan.plan_job`'s decisions."""

from __future__ import annotations

from modeldeploy.sandbox.controllers.base import PodOwnerController
from modeldeploy.sandbox.controllers.client import JOBS, PODS, KubeClient, Obj
from modeldeploy.sandbox.controllers.clock import utc_now
from modeldeploy.sandbox.controllers.jobplan import Backoff, plan_job
from modeldeploy.sandbox.controllers.replicaset import pod_from_template


def job_pod_labels(job: Obj) -> dict[str, str]:
    uid, name = job["metadata"]["uid"], job["metadata"]["name"]
    return {
        "batch.kubernetes.io/controller-uid": uid,
        "batch.kubernetes.io/job-name": name,
        "controller-uid": uid,
        "job-name": name,
    }


class JobController(PodOwnerController):
    name = "job-controller"

    def __init__(self, client: KubeClient, backoff: Backoff) -> None:
        super().__init__(client, JOBS, "Job")
        self.backoff = backoff

    async def reconcile(self, key: str) -> float | None:
        job = self.owners.get(key)
        if job is None or job["metadata"].get("deletionTimestamp"):
            return None
        namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
        plan = plan_job(job, self.owned_pods(job), utc_now(), self.backoff)
        if plan.delete_job:
            body = {"propagationPolicy": "Background"}
            await self.client.delete_if_present(JOBS.path(namespace, name), body)
            return None
        for pod_name in plan.delete:
            await self.delete_pod(namespace, pod_name)
        for _ in range(plan.create):
            pod = pod_from_template(job, "batch/v1", "Job", job_pod_labels(job))
            self.pods.remember(await self.client.create(PODS.path(namespace), pod))
        if plan.status != (job.get("status") or {}):
            updated = await self.client.merge_patch(
                JOBS.path(namespace, name, "status"), {"status": _merge_patch_of(job, plan.status)}
            )
            self.owners.remember(updated)
        return plan.requeue_after


def _merge_patch_of(job: Obj, status: dict[str, object]) -> dict[str, object]:
    """The new status as a merge patch: fields that disappeared are set to null."""
    patch: dict[str, object] = dict(status)
    for field in job.get("status") or {}:
        patch.setdefault(field, None)
    return patch
