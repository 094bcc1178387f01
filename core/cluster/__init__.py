"""The cluster port: what namespace-ctl needs from Kubernetes, and its adapters."""

from core.cluster.base import Cluster, NamespaceInfo, WorkloadObject

__all__ = ["Cluster", "NamespaceInfo", "WorkloadObject"]
