"""Compression steps: each module has one function over an `onnx.ModelProto`."""
