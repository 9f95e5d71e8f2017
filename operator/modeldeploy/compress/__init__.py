"""The compression Job: fetch a model, compress it step by step, gate it on a metric, store it.

`modeldeploy compress --spec job.json` is the payload of the Kubernetes Job the operator runs;
see `job.main`.
"""
