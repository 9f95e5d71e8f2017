"""The Service proxy (the sandbox's kube-proxy): TCP listeners on ClusterIPs, traffic to ready
endpoints."""
