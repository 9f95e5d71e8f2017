"""`modeldeploy serve`: one ONNX model behind KServe v1 and Open Inference Protocol v2.

Layers, each only calling the one below: `rest/` (thin HTTP endpoints) ->
`dataplane` (readiness, limits, dynamic batching off the event loop) ->
`model` (ONNX Runtime session and input validation).
"""
