"""KServe's Python ModelServer serving an ONNX model with onnxruntime (a benchmark peer).

Run with the peer's own venv (see benchmarks/serve.py). The model is written the way the
KServe docs show custom predictors: a `kserve.Model` whose `predict` takes the v2
InferRequest and returns an InferResponse. ONNX Runtime uses one thread, like ours.
"""

from __future__ import annotations

import argparse
import logging

import onnxruntime as ort
from kserve import Model, ModelServer, model_server
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse


class OnnxModel(Model):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        self.output_names = [output.name for output in self.session.get_outputs()]
        self.ready = True

    def predict(
        self, payload: InferRequest, headers: object = None, response_headers: object = None
    ) -> InferResponse:
        feeds = {tensor.name: tensor.as_numpy() for tensor in payload.inputs}
        results = self.session.run(self.output_names, feeds)
        outputs = []
        for name, array in zip(self.output_names, results, strict=True):
            output = InferOutput(name=name, shape=list(array.shape), datatype="FP32")
            output.set_data_from_numpy(array, binary_data=False)
            outputs.append(output)
        return InferResponse(
            response_id=payload.id or "", model_name=self.name, infer_outputs=outputs
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--model_path", required=True)
    args, _ = parser.parse_known_args()
    logging.basicConfig(level=logging.WARNING)  # no per-request log lines
    ModelServer().start([OnnxModel(args.model_name, args.model_path)])
