"""The quick-and-dirty peer: FastAPI + uvicorn running the eager Hugging Face model once per request.

It speaks just enough of the KServe v2 HTTP protocol for perf_analyzer to drive it with the same
input data as Triton: server and model metadata, the model config, and infer with JSON tensors
(perf_analyzer --input-tensor-format json --output-tensor-format json). Errors use v2's "error" member.
One worker, and the handler runs the model on the event loop: one request at a time. Start: SENTIMENT_REPOSITORY=model_repository \
uvicorn --factory benchmarks.fastapi_peer:create_app
"""

import os
from pathlib import Path

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from harness.eager import EagerClassifier

MODEL = "sentiment"


def metadata() -> dict:
    return {
        "name": MODEL,
        "versions": ["1"],
        "platform": "fastapi",
        "inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [-1, 1]}],
        "outputs": [
            {"name": "LABEL", "datatype": "BYTES", "shape": [-1, 1]},
            {"name": "SCORE", "datatype": "FP32", "shape": [-1, 1]},
        ],
    }


def config() -> dict:
    return {
        "name": MODEL,
        "platform": "fastapi",
        "max_batch_size": 1,
        "input": [{"name": "TEXT", "data_type": "TYPE_STRING", "dims": [1]}],
        "output": [
            {"name": "LABEL", "data_type": "TYPE_STRING", "dims": [1]},
            {"name": "SCORE", "data_type": "TYPE_FP32", "dims": [1]},
        ],
    }


def create_app() -> FastAPI:
    classifier = EagerClassifier.from_repository(Path(os.environ["SENTIMENT_REPOSITORY"]))
    app = FastAPI()

    @app.get("/v2")
    def server_metadata() -> dict:
        return {"name": "fastapi-peer", "extensions": []}  # no "statistics": perf_analyzer would poll it

    @app.get("/v2/health/live")
    @app.get("/v2/health/ready")
    def healthy() -> dict:
        return {}

    @app.get(f"/v2/models/{MODEL}")
    def model_metadata() -> dict:
        return metadata()

    @app.get(f"/v2/models/{MODEL}/config")
    def model_config() -> dict:
        return config()

    @app.post(f"/v2/models/{MODEL}/infer")
    async def infer(request: Request) -> dict:
        body = await request.json()
        try:
            texts = [str(text) for text in body["inputs"][0]["data"]]
        except (KeyError, IndexError, TypeError):
            return JSONResponse({"error": "expected inputs[0].data holding the texts"}, status_code=400)
        probs = torch.from_numpy(classifier.logits(texts)).softmax(dim=-1)
        scores, best = probs.max(dim=-1)
        return {
            "model_name": MODEL,
            "outputs": [
                {"name": "LABEL", "datatype": "BYTES", "shape": [len(texts), 1], "data": [classifier.labels[i] for i in best]},
                {"name": "SCORE", "datatype": "FP32", "shape": [len(texts), 1], "data": scores.tolist()},
            ],
        }

    return app
