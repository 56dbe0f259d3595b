"""The in-process ceiling: the served model.pt, tokenizer code and postprocess code in one process, no server."""

import importlib.util
import json
import re
import time
from pathlib import Path

import numpy as np
import torch


def repository_module(repository: Path, model: str, name: str):
    """Import a model's logic module (e.g. tokenizer/1/tokenization.py) by path."""
    path = repository / model / "1" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{model}_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Pipeline:
    """tokenize → TorchScript → postprocess, exactly as the three served models do it."""

    def __init__(self, repository: Path):
        tokenization = repository_module(repository, "tokenizer", "tokenization")
        self.postprocessing = repository_module(repository, "postprocess", "postprocessing")
        self.encoder = tokenization.TextEncoder.load(repository / "tokenizer" / "1" / "tokenizer.json")
        self.module = torch.jit.load(str(repository / "classifier" / "1" / "model.pt")).eval()
        self.labels = self.postprocessing.load_labels(repository / "postprocess" / "1" / "labels.json")
        config = (repository / "classifier" / "config.pbtxt").read_text()
        self.optimized = not re.search(r'"DISABLE_OPTIMIZED_EXECUTION".*"true"', config)

    def __call__(self, texts: list[str]):
        ids, mask = self.encoder.encode(texts)
        with torch.inference_mode(), torch.jit.optimized_execution(self.optimized):
            logits = self.module(torch.from_numpy(ids), torch.from_numpy(mask)).numpy()
        return self.postprocessing.postprocess(logits, self.labels)


def throughput(pipeline: Pipeline, texts: list[str], batch: int, seconds: float) -> float:
    """Texts per second over whole passes of `texts` in batches, for at least `seconds`."""
    pipeline(texts[:batch])  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for start in range(0, len(texts) - batch + 1, batch):
            pipeline(texts[start : start + batch])
            done += batch
            if time.perf_counter() - started >= seconds:
                break
    return done / (time.perf_counter() - started)


def batch1_latency_ms(pipeline: Pipeline, texts: list[str], count: int) -> dict:
    timings = []
    for text in texts[:count]:
        started = time.perf_counter()
        pipeline([text])
        timings.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": float(np.percentile(timings, 50)), "p99_ms": float(np.percentile(timings, 99))}


def measure(repository: Path, texts: list[str], batches: list[int], seconds: float) -> dict:
    pipeline = Pipeline(repository)
    by_batch = {batch: throughput(pipeline, texts, batch, seconds) for batch in batches}
    best = max(by_batch, key=by_batch.get)
    return {
        "torch_threads": torch.get_num_threads(),
        "throughput_by_batch": by_batch,
        "best_batch": best,
        "best_throughput": by_batch[best],
        "batch1": batch1_latency_ms(pipeline, texts, count=200 if seconds >= 2 else 30),
    }


if __name__ == "__main__":
    from benchmarks import corpus

    print(json.dumps(measure(Path("model_repository"), corpus.generate(1000), [1, 8, 16, 32, 64], 5.0), indent=2))
