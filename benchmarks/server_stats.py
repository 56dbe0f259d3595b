"""Per-model queue and compute time from Triton's statistics API, as the difference of two snapshots."""

import json
import urllib.request


def snapshot(http_url: str) -> dict[str, dict]:
    with urllib.request.urlopen(f"{http_url}/v2/models/stats", timeout=10) as response:
        return {model["name"]: model for model in json.load(response)["model_stats"]}


def _stat(model: dict, key: str) -> tuple[int, int]:
    entry = model["inference_stats"][key]
    return int(entry["count"]), int(entry["ns"])


def breakdown(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    """Model → requests, failures, average batch, and mean queue / compute milliseconds per request."""
    result = {}
    for name, now in after.items():
        then = before.get(name)
        if then is None:
            continue
        requests = _stat(now, "success")[0] - _stat(then, "success")[0]
        failed = _stat(now, "fail")[0] - _stat(then, "fail")[0]
        executions = int(now["execution_count"]) - int(then["execution_count"])
        inferences = int(now["inference_count"]) - int(then["inference_count"])
        if requests + failed == 0:
            continue

        def mean_ms(key: str) -> float:
            count = _stat(now, key)[0] - _stat(then, key)[0]
            return (_stat(now, key)[1] - _stat(then, key)[1]) / max(count, 1) / 1e6

        result[name] = {
            "requests": requests,
            "failed": failed,
            "average_batch": inferences / executions if executions else 0.0,
            "queue_ms": mean_ms("queue"),
            "compute_ms": mean_ms("compute_input") + mean_ms("compute_infer") + mean_ms("compute_output"),
        }
    return result
