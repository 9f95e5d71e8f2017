"""modeldeploy: one Kubernetes resource from a trained ONNX model to production traffic."""

__version__ = "0.1.0"
