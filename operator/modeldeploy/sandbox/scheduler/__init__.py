"""The sandbox scheduler: filters nodes like kube-scheduler and binds pods via `pods/binding`."""
