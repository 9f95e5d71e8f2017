"""The sandbox Kubernetes API server (see server.ApiServer)."""
