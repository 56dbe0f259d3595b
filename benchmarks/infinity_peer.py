"""infinity-emb, the length-sorting embedding and classification server, as a benchmark peer.

Its pins clash with the project's (sentence-transformers<4, transformers<5, click<8.2, ...), so it
lives in its own virtual environment, `.venv-infinity`, made by `make bench` from
benchmarks/infinity-requirements.txt. It serves a Hugging Face sequence-classification checkpoint
from a local folder with the torch engine on the CPU, at its default batch size (32), and answers
POST /classify {"input": [texts]}.
"""

import json
import os
from contextlib import contextmanager
from pathlib import Path

from server import free_endpoints

from . import peer_server

VENV = Path(__file__).resolve().parents[1] / ".venv-infinity"
VERSION = "0.0.78"


def executable(venv: Path = VENV) -> Path | None:
    path = venv / "bin" / "infinity_emb"
    return path if path.is_file() else None


def readable_checkpoint(checkpoint: Path, workdir: Path) -> Path:
    """`checkpoint`, or a view of it that infinity-emb's transformers 4 can load.

    transformers 5 saves a generic fast tokenizer as class "TokenizersBackend", unknown to
    transformers 4, whose name for the same thing is "PreTrainedTokenizerFast": the view links
    every file and rewrites only that name.
    """
    config = json.loads((checkpoint / "tokenizer_config.json").read_text())
    if config.get("tokenizer_class") != "TokenizersBackend":
        return checkpoint
    view = workdir / f"{checkpoint.name}-for-infinity"
    view.mkdir(exist_ok=True)
    for path in checkpoint.iterdir():
        if path.name != "tokenizer_config.json" and not (view / path.name).exists():
            (view / path.name).symlink_to(path.resolve())
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    (view / "tokenizer_config.json").write_text(json.dumps(config, indent=2))
    return view


@contextmanager
def serve(checkpoint: Path, name: str, log_file: Path, venv: Path = VENV):
    """infinity_emb v2 serving `checkpoint` as model `name` on a free loopback port; yields its base URL."""
    checkpoint = readable_checkpoint(checkpoint, log_file.parent)
    endpoints = free_endpoints()
    command = [
        str(executable(venv)), "v2",
        "--model-id", str(checkpoint), "--served-model-name", name,
        "--engine", "torch", "--device", "cpu", "--no-bettertransformer",
        "--host", endpoints.host, "--port", str(endpoints.http_port),
    ]  # fmt: skip
    # Offline, and without the usage statistics it sends by default.
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "DO_NOT_TRACK": "1",
           "INFINITY_ANONYMOUS_USAGE_STATS": "0"}  # fmt: skip
    with peer_server.running(command, env, f"{endpoints.http}/health", log_file):
        yield endpoints.http
