"""The embedded local Kubernetes: an API server, controllers, a scheduler and a node agent.

It never imports the operator: it is a cluster the operator talks to over HTTP.
"""
