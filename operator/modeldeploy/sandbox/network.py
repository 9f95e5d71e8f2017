"""The sandbox's addresses: all of 127.0.0.0/8 reaches this machine, so pods and Services share
it, in disjoint parts (pods: 127.0.0.2 upwards, skipping the Service range)."""

from __future__ import annotations

import ipaddress

# Like kube-apiserver's --service-cluster-ip-range: every Service's ClusterIP comes from here,
# and the sandbox proxy listens on it.
SERVICE_NETWORK = ipaddress.IPv4Network("127.1.0.0/16")
