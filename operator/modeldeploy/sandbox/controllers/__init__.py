"""Sandbox controllers: Deployment, ReplicaSet, Job, Endpoints and claim binding, as API clients."""
