"""The quick-and-dirty peer: FastAPI + uvicorn running the eager Hugging Face model once per request.

It speaks just enough of the KServe v2 HTTP protocol for perf_analyzer to drive it with the same
input data as Triton: server and model metadata, the model config, and infer with JSON tensors
(perf_analyzer --input-tensor-format json --output-tensor-format json). Errors use v2's "error" member.
It serves one pipeline's model under the pipeline's name, with the values its postprocess model gives.
One worker, and the handler runs the model on the event loop: one request at a time. Start:
PEER_MODEL_REPOSITORY=model_repository PEER_PIPELINE=sentiment uvicorn --factory benchmarks.fastapi_peer:create_app
"""

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from conversion.repository import DEFAULT_PIPELINE, Pipeline
from harness.eager import EagerClassifier

REPOSITORY_VARIABLE, PIPELINE_VARIABLE = "PEER_MODEL_REPOSITORY", "PEER_PIPELINE"


def environment(pipeline: Pipeline) -> dict[str, str]:
    """The variables that make create_app() serve `pipeline`."""
    return {REPOSITORY_VARIABLE: str(pipeline.root.resolve()), PIPELINE_VARIABLE: pipeline.name}


def metadata(model: str) -> dict:
    return {
        "name": model,
        "versions": ["1"],
        "platform": "fastapi",
        "inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [-1, 1]}],
        "outputs": [
            {"name": "LABEL", "datatype": "BYTES", "shape": [-1, 1]},
            {"name": "SCORE", "datatype": "FP32", "shape": [-1, 1]},
        ],
    }


def config(model: str) -> dict:
    return {
        "name": model,
        "platform": "fastapi",
        "max_batch_size": 1,
        "input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}],
        "output": [
            {"name": "LABEL", "data_type": "TYPE_STRING", "dims": [1]},
            {"name": "SCORE", "data_type": "TYPE_FP32", "dims": [1]},
        ],
    }


def create_app() -> FastAPI:
    pipeline = Pipeline(Path(os.environ[REPOSITORY_VARIABLE]), os.environ.get(PIPELINE_VARIABLE, DEFAULT_PIPELINE))
    classifier = EagerClassifier.from_repository(pipeline.root, pipeline.name)
    model = pipeline.name
    app = FastAPI()

    @app.get("/v2")
    def server_metadata() -> dict:
        return {"name": "fastapi-peer", "extensions": []}  # no "statistics": perf_analyzer would poll it

    @app.get("/v2/health/live")
    @app.get("/v2/health/ready")
    def healthy() -> dict:
        return {}

    @app.get(f"/v2/models/{model}")
    def model_metadata() -> dict:
        return metadata(model)

    @app.get(f"/v2/models/{model}/config")
    def model_config() -> dict:
        return config(model)

    @app.post(f"/v2/models/{model}/infer")
    async def infer(request: Request) -> dict:
        body = await request.json()
        try:
            texts = [str(text) for text in body["inputs"][0]["data"]]
        except (KeyError, IndexError, TypeError):
            return JSONResponse({"error": "expected inputs[0].data holding the texts"}, status_code=400)
        values = classifier.probs(texts)  # what the pipeline's postprocess model gives (softmax, sigmoid or none)
        best = values.argmax(axis=-1)
        return {
            "model_name": model,
            "outputs": [
                {"name": "LABEL", "datatype": "BYTES", "shape": [len(texts), 1], "data": [classifier.labels[i] for i in best]},
                {"name": "SCORE", "datatype": "FP32", "shape": [len(texts), 1], "data": values[range(len(texts)), best].tolist()},
            ],
        }

    return app
