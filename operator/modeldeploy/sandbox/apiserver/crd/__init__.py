"""Custom resources as kube-apiserver admits them: CRD checks, pruning, defaults, schema and CEL.

validate_crd(crd) -> list[Cause]                 the CRD's own validity
CustomResourceSchema.from_crd(crd, version)      one version's structural schema
schema.admit(obj, old) -> (object, causes)       prune, default, validate (old on update)
schema.review(obj, old) -> Admission             the same, plus the pruned field paths
schema.default(obj)                              the defaults alone (objects read from storage)
"""

from modeldeploy.sandbox.apiserver.crd.admission import (
    Admission,
    CustomResourceSchema,
    UnknownVersionError,
)
from modeldeploy.sandbox.apiserver.crd.causes import Cause
from modeldeploy.sandbox.apiserver.crd.crd_checks import validate_crd

__all__ = ["Admission", "Cause", "CustomResourceSchema", "UnknownVersionError", "validate_crd"]
