"""The sandbox node agent: a kubelet that runs pods as local processes."""
