"""An MLServer runtime serving an ONNX model with onnxruntime (a benchmark peer).

MLServer has no ONNX runtime of its own; this is the custom runtime its docs describe
(`MLModel` with `load` and `predict`, NumpyCodec for tensors). ONNX Runtime uses one
thread, like ours. Copied next to model-settings.json by benchmarks/serve.py.
"""

from __future__ import annotations

import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntimeModel(MLModel):
    async def load(self) -> bool:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(self.settings.parameters.uri), options, providers=["CPUExecutionProvider"]
        )
        self._output_names = [output.name for output in self._session.get_outputs()]
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        feeds = {tensor.name: NumpyCodec.decode_input(tensor) for tensor in payload.inputs}
        results = self._session.run(self._output_names, feeds)
        return InferenceResponse(
            model_name=self.name,
            outputs=[
                NumpyCodec.encode_output(name, array)
                for name, array in zip(self._output_names, results, strict=True)
            ],
        )
