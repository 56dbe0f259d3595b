"""What the server container runs: the image's entry (server/container.py) against a tritonserver
stand-in and under the real Triton, from only the files the image copies; its thread settings, its
allocator, its health check and its drain."""

import http.server
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conversion.repository import DEFAULT_PIPELINE, Pipeline, Repository
from server.allocator import GLIBC_MMAP_THRESHOLD, TCMALLOC_SETTINGS, find_tcmalloc
from server.drain import RepositoryApi, drain
from server.http_calls import http_get
from server.installation import TritonInstallation
from harness.object_store import LocalObjectStore
from server import Endpoints, free_endpoints
from server.procfs import children, python_stubs
from server.threads import LIMIT_VARIABLE, THREAD_COUNTS, WAIT_POLICY
from store import Location, publish, version_manifest
from tests.deployment.files import PROJECT, dockerfile, instructions


ALLOCATOR_SETTINGS = ["LD_PRELOAD", "MALLOC_MMAP_THRESHOLD_", *TCMALLOC_SETTINGS]


@pytest.fixture
def fake_tritonserver(tmp_path) -> Path:
    """A tritonserver stand-in: records its arguments, exits 0 on SIGTERM, else 3 after 20 s."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tritonserver"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"trap 'touch {tmp_path}/terminated; exit 0' TERM\n"
        f"printf '%s\\n' \"$@\" > {tmp_path}/args.tmp && mv {tmp_path}/args.tmp {tmp_path}/args\n"
        "for _ in $(seq 200); do sleep 0.1; done\n"
        "exit 3\n"
    )
    script.chmod(0o755)
    return bin_dir


def container_env(bin_dir: Path, **extra: str) -> dict:
    """The environment of the image's entry: `tritonserver` is the one in `bin_dir`; the served ensembles are
    recorded beside it."""
    path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "")])
    ensembles = str(bin_dir.parent / "served-ensembles")
    return {**os.environ, "PATH": path, "PYTHONPATH": str(PROJECT), "SERVED_ENSEMBLES_FILE": ensembles, **extra}


def container(*args: str, python_options: tuple[str, ...] = ()) -> list[str]:
    """The image's ENTRYPOINT, run by this Python."""
    return [sys.executable, *python_options, "-m", "server.container", *args]


def wait_for(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} did not appear"
        time.sleep(0.02)


def run_until_triton_starts(env: dict, tmp_path: Path, command: list[str] | None = None, cwd: Path = PROJECT) -> None:
    """Run the image's entry until the stand-in tritonserver has started, then stop it with SIGTERM."""
    process = subprocess.Popen(command or container(), env=env, cwd=cwd)
    try:
        wait_for(tmp_path / "args")
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()


def test_image_entry_refuses_to_start_without_the_admin_key(fake_tritonserver, tmp_path):
    env = container_env(fake_tritonserver)
    env.pop("TRITON_ADMIN_KEY", None)
    result = subprocess.run(container(), env=env, capture_output=True, text=True, timeout=10)
    assert result.returncode == 64 and "TRITON_ADMIN_KEY" in result.stderr
    assert not (tmp_path / "args").exists(), "tritonserver started without the key"


def test_image_entry_runs_triton_with_the_production_flags(fake_tritonserver, tmp_path):
    env = container_env(fake_tritonserver, TRITON_ADMIN_KEY="s3cret", TRITON_HTTP_URL="http://127.0.0.1:9")
    run_until_triton_starts(env, tmp_path, container("--model-config-name=gpu"))
    args = (tmp_path / "args").read_text().splitlines()
    restricted = "logging,trace,shared-memory:admin-key=s3cret"
    repository = next(arg.partition("=")[2] for arg in args if arg.startswith("--model-repository="))
    assert repository == "/models", "the image's documented default"
    for flag in (
        "--model-control-mode=explicit",
        "--load-model=*",
        "--strict-readiness=true",
        "--exit-on-error=true",
        "--exit-timeout-secs=30",
        f"--http-restricted-api={restricted}",
        f"--grpc-restricted-protocol={restricted}",
    ):
        assert flag in args, flag
    [repository_api] = [arg for arg in args if arg.startswith("--http-restricted-api=model-repository:repository-key=")]
    assert len(repository_api.rpartition("=")[2]) == 64 and f"--grpc-restricted-protocol={repository_api.partition('=')[2]}" in args
    assert args[-1] == "--model-config-name=gpu", "extra arguments go last"
    assert (tmp_path / "terminated").exists()


@pytest.fixture
def env_recording_tritonserver(fake_tritonserver, tmp_path) -> Path:
    """fake_tritonserver that first writes its environment to `env` (NUL-separated), before its arguments."""
    script = fake_tritonserver / "tritonserver"
    shebang, rest = script.read_text().split("\n", 1)
    script.write_text(f"{shebang}\nenv -0 > {tmp_path}/env\n{rest}")
    return fake_tritonserver


def served_environment(tmp_path: Path) -> dict[str, str]:
    entries = (tmp_path / "env").read_bytes().decode(errors="replace").split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def thread_env(bin_dir: Path, **extra: str) -> dict:
    """container_env without the thread settings of this test run's own environment."""
    env = container_env(bin_dir, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9")
    for name in (*THREAD_COUNTS, "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", LIMIT_VARIABLE):
        env.pop(name, None)
    return {**env, **extra}


def test_image_entry_sizes_tritons_threads_to_the_cpu_limit_passed_down(env_recording_tritonserver, tmp_path):
    run_until_triton_starts(thread_env(env_recording_tritonserver, **{LIMIT_VARIABLE: "1000"}), tmp_path)
    served = served_environment(tmp_path)
    assert {name: served.get(name) for name in THREAD_COUNTS} == dict.fromkeys(THREAD_COUNTS, "1")
    assert {name: served.get(name) for name in WAIT_POLICY} == WAIT_POLICY


def test_image_entry_keeps_the_operators_thread_count(env_recording_tritonserver, tmp_path):
    env = thread_env(env_recording_tritonserver, **{LIMIT_VARIABLE: "1000", "OMP_NUM_THREADS": "3"})
    run_until_triton_starts(env, tmp_path)
    served = served_environment(tmp_path)
    assert served["OMP_NUM_THREADS"] == "3"
    assert "MKL_NUM_THREADS" not in served, "the operator chose torch's threads: the entry sets neither count"
    assert served["RAYON_NUM_THREADS"] == "1"
    assert {name: served.get(name) for name in WAIT_POLICY} == WAIT_POLICY


def image_files(workdir: Path) -> Path:
    """What the server Dockerfile's COPY instructions put into its WORKDIR, copied the same way into `workdir`."""
    for keyword, rest in instructions(dockerfile("server")):
        if keyword != "COPY":
            continue
        *sources, target = rest.split()
        for source in sources:
            origin, destination = PROJECT / source, workdir / target
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
            else:
                destination.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, destination)
    return workdir


def test_image_entry_runs_from_the_files_the_image_copies_on_the_standard_library_alone(fake_tritonserver, tmp_path):
    workdir = image_files(tmp_path / "opt-sentiment")
    env = container_env(fake_tritonserver, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9")
    # -S: no site-packages (the NGC image's python3 has none of ours); -E: PYTHONPATH is not read.
    run_until_triton_starts(env, tmp_path, container(python_options=("-S", "-E")), cwd=workdir)
    assert "--exit-on-error=true" in (tmp_path / "args").read_text().splitlines()


def test_the_image_store_reads_the_repository_layout_from_the_files_the_image_copies(tmp_path):
    workdir = image_files(tmp_path / "opt-sentiment")
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    probe = "import conversion.repository, store.version_manifest; print(conversion.repository.__file__); print(store.version_manifest.__file__)"
    result = subprocess.run([sys.executable, "-c", probe], cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert all(Path(path).is_relative_to(workdir) for path in result.stdout.split()), result.stdout


@pytest.fixture
def real_tritonserver(tmp_path) -> Path:
    """`tritonserver` on PATH is the real one (Triton 2.51, from nvidia-pytriton), as in the NGC image."""
    installation = TritonInstallation.find()
    bin_dir = tmp_path / "real-bin"
    bin_dir.mkdir()
    script = bin_dir / "tritonserver"
    script.write_text(
        "#!/bin/sh\n"
        f'export LD_LIBRARY_PATH="{installation.libraries}${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}"\n'
        f'exec "{installation.binary}" "$@"\n'
    )
    script.chmod(0o755)
    return bin_dir


def real_triton_env(bin_dir: Path, repository: Path, endpoints: Endpoints, **extra: str) -> dict:
    """The entry's environment for the real tritonserver in `bin_dir` serving `repository` on `endpoints`."""
    http = endpoints.http
    return container_env(
        bin_dir, TRITON_ADMIN_KEY="k", MODEL_REPOSITORY=str(repository), TRITON_HTTP_URL=http, TRITON_READY_URL=f"{http}/v2/health/ready", **extra
    )


def environment_of(pid: int) -> dict[str, str]:
    entries = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0")
    return dict(entry.split("=", 1) for entry in entries if "=" in entry)


def test_image_entry_runs_the_real_triton_on_tcmalloc_with_its_bounded_settings(real_tritonserver, tmp_path):
    endpoints = free_endpoints()
    repository = tmp_path / "empty-repository"
    repository.mkdir()
    env = real_triton_env(real_tritonserver, repository, endpoints)
    for name in ALLOCATOR_SETTINGS:
        env.pop(name, None)
    loopback = [f"--{api}-address=127.0.0.1" for api in ("http", "grpc", "metrics")]
    ports = [f"--http-port={endpoints.http_port}", f"--grpc-port={endpoints.grpc_port}", f"--metrics-port={endpoints.metrics_port}"]
    log = tmp_path / "container.log"
    with open(log, "w") as output:
        process = subprocess.Popen(container(*loopback, *ports), env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while http_get(f"{endpoints.http}/v2/health/ready")[0] != 200:
            assert process.poll() is None and time.monotonic() < deadline, f"Triton never got ready: {log.read_text()}"
            time.sleep(0.2)
        [triton] = children(process.pid)
        served = environment_of(triton)
        tcmalloc = find_tcmalloc()
        if tcmalloc is not None:
            assert str(tcmalloc.resolve()) in Path(f"/proc/{triton}/maps").read_text(), "tritonserver does not run on tcmalloc"
            assert served["LD_PRELOAD"] == str(tcmalloc)
            assert {name: served.get(name) for name in TCMALLOC_SETTINGS} == TCMALLOC_SETTINGS
        else:
            assert served["MALLOC_MMAP_THRESHOLD_"] == str(GLIBC_MMAP_THRESHOLD)
            assert "entrypoint: tcmalloc not found; glibc malloc with a fixed mmap threshold" in log.read_text()
        assert http_get(f"{endpoints.http}/v2/logging")[0] == 403, "the admin APIs are open"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, log.read_text()
        assert "still in flight" not in log.read_text(), "Triton refused the drain its repository key"
    finally:
        process.kill()


def health(workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """`python3 -m server.health` as the HEALTHCHECK and the probes run it: from the files the image copies,
    on the standard library alone (-S: no site-packages; -E: no PYTHONPATH)."""
    command = [sys.executable, "-S", "-E", "-m", "server.health"]
    return subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=30)


def repository_key(triton: int) -> str:
    """The key of the repository API that the entry gave this tritonserver (and its drain)."""
    argv = Path(f"/proc/{triton}/cmdline").read_bytes().decode().split("\0")
    flag = "--http-restricted-api=model-repository:repository-key="
    return next(arg.removeprefix(flag) for arg in argv if arg.startswith(flag))


def test_the_health_check_is_ready_only_while_every_pipeline_the_entry_serves_is(real_tritonserver, several_pipelines_repository, tmp_path):
    pipelines = Repository(several_pipelines_repository).pipelines()
    installation = TritonInstallation.find()
    local = installation.environment()  # the stubs find this venv's packages and libpython
    endpoints = free_endpoints()
    env = real_triton_env(real_tritonserver, several_pipelines_repository, endpoints, LD_LIBRARY_PATH=local["LD_LIBRARY_PATH"])
    env["PATH"] = os.pathsep.join([str(real_tritonserver), local["PATH"]])
    flags = [
        f"--backend-directory={installation.assemble_backends(tmp_path / 'backends')}",
        *(f"--{api}-address=127.0.0.1" for api in ("http", "grpc", "metrics")),
        f"--http-port={endpoints.http_port}", f"--grpc-port={endpoints.grpc_port}", f"--metrics-port={endpoints.metrics_port}",
    ]  # fmt: skip
    workdir = image_files(tmp_path / "opt-sentiment")
    probe = {**os.environ, "SERVED_ENSEMBLES_FILE": env["SERVED_ENSEMBLES_FILE"], "TRITON_HTTP_URL": endpoints.http}
    log = tmp_path / "container.log"
    with open(log, "w") as output:
        process = subprocess.Popen(container(*flags), env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        starting = health(workdir, probe)
        assert starting.returncode == 1 and starting.stdout.startswith("not ready: "), starting.stdout + starting.stderr
        deadline = time.monotonic() + 300  # 28 models on two cores
        while (result := health(workdir, probe)).returncode != 0:
            assert process.poll() is None and time.monotonic() < deadline, f"{result.stdout}{result.stderr}{log.read_text()}"
            time.sleep(1.0)
        assert result.stdout.strip() == f"ready: {', '.join(pipelines)}"
        assert Path(env["SERVED_ENSEMBLES_FILE"]).read_text().split() == pipelines
        # One pipeline's ensemble unloaded, as the drain unloads them: the container is no longer ready.
        unloaded = next(name for name in pipelines if name != DEFAULT_PIPELINE)
        [triton] = children(process.pid)
        RepositoryApi(endpoints.http, repository_key(triton)).unload(unloaded)
        deadline = time.monotonic() + 60
        while (result := health(workdir, probe)).returncode == 0:
            assert time.monotonic() < deadline, f"{unloaded} unloaded, and the health check still passes"
            time.sleep(0.2)
        assert re.fullmatch(rf"not ready: {unloaded} \(HTTP 4\d\d\)", result.stdout.strip()), result.stdout
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=120) == 0, log.read_text()
        stopped = health(workdir, probe)
        assert (stopped.returncode, stopped.stdout.strip()) == (1, f"not ready: no answer from Triton at {endpoints.http}")
    finally:
        process.kill()


def test_image_entry_serves_a_published_version_only_after_verifying_it(fake_tritonserver, tiny_roberta_repository, tmp_path, monkeypatch):
    with LocalObjectStore(tmp_path / "seaweedfs") as store:
        for name, value in store.credentials.items():
            monkeypatch.setenv(name, value)
        url = publish(tiny_roberta_repository, store.url("models", "sentiment"), create_bucket=True)
        env = container_env(
            fake_tritonserver, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9", STORE_CACHE=str(tmp_path / "cache")
        )
        unknown = str(Location.parse(url).parent.child("0123456789abcdef"))
        refused = subprocess.run(container(), env={**env, "MODEL_REPOSITORY": unknown}, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 1 and not (tmp_path / "args").exists()
        assert f"store: no published version '0123456789abcdef' at {Location.parse(url).parent}" in refused.stderr
        run_until_triton_starts({**env, "MODEL_REPOSITORY": url}, tmp_path)
    args = (tmp_path / "args").read_text().splitlines()
    served = Path(next(arg.partition("=")[2] for arg in args if arg.startswith("--model-repository=")))
    assert served == tmp_path / "cache" / "models" / "sentiment" / Location.parse(url).name / "repository"
    assert version_manifest.repository_files(served) == version_manifest.repository_files(tiny_roberta_repository)
    assert (tmp_path / "served-ensembles").read_text().split() == Repository(served).pipelines() == [DEFAULT_PIPELINE]


class FakeTriton:
    """The HTTP calls of a Triton serving the pipelines `sentiment` and `nli`: ready (503 while `ready` is clear),
    model configs, the repository index, and unload, after which an ensemble stays UNLOADING (a request in
    flight) until `in_flight` is cleared."""

    PIPELINES = (Pipeline(Path("."), DEFAULT_PIPELINE), Pipeline(Path("."), "nli"))

    def __init__(self):
        self.ready = threading.Event()
        self.ready.set()
        self.in_flight = threading.Event()
        self.in_flight.set()
        self.unloaded: list[tuple[str, str]] = []  # (model, repository-key header)
        fake = self
        configs = {}
        for pipeline in self.PIPELINES:
            configs[f"/v2/models/{pipeline.name}/config"] = {"platform": "ensemble"}
            configs |= {f"/v2/models/{pipeline.model(step)}/config": {"backend": "python"} for step in ("tokenizer", "postprocess")}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/v2/health/ready" and not fake.ready.is_set():
                    return self.answer({}, status=503)
                self.answer(configs.get(self.path, {}))

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/unload"):
                    fake.unloaded.append((self.path.split("/")[-2], self.headers.get("repository-key", "")))
                    return self.answer({})
                self.answer([{"name": model, "state": fake.state(model)} for pipeline in fake.PIPELINES for model in pipeline.models])

            def answer(self, document, status=200):
                body = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def state(self, model: str) -> str:
        if model not in {unloaded for unloaded, _ in self.unloaded}:
            return "READY"
        return "UNLOADING" if self.in_flight.is_set() else "UNAVAILABLE"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def triton_api():
    fake = FakeTriton()
    yield fake
    fake.close()


def test_image_entry_stops_triton_only_after_the_last_request_of_every_ensemble(fake_tritonserver, tmp_path, triton_api):
    env = container_env(fake_tritonserver, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL=triton_api.url)
    process = subprocess.Popen(container(), env=env)
    try:
        wait_for(tmp_path / "args")
        process.send_signal(signal.SIGTERM)
        time.sleep(1.0)
        assert not (tmp_path / "terminated").exists(), "tritonserver was signalled while a request was in flight"
        [key] = {key for _, key in triton_api.unloaded}
        args = (tmp_path / "args").read_text().splitlines()
        assert sorted(model for model, _ in triton_api.unloaded) == sorted(pipeline.name for pipeline in triton_api.PIPELINES)
        assert f"--http-restricted-api=model-repository:repository-key={key}" in args
        triton_api.in_flight.clear()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
    assert (tmp_path / "terminated").exists()


def stand_in_with_a_stub(tmp_path: Path, on_sigterm: str) -> Path:
    """A tritonserver stand-in with one child named like a Python stub (instance sentiment.tokenizer_0_0), its
    pid in stub.pid; `on_sigterm` is the shell its SIGTERM trap runs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tritonserver"
    stub_argv = "-c 'import time; time.sleep(60)' 3 4 5 6 7 sentiment.tokenizer_0_0"
    script.write_text(
        "#!/usr/bin/env bash\n"
        f"trap '{on_sigterm}' TERM\n"
        f"( exec -a {bin_dir}/triton_python_backend_stub {sys.executable} {stub_argv} ) &\n"
        f"echo $! > {tmp_path}/stub.pid\n"
        "for _ in $(seq 600); do sleep 0.1; done\n"
    )
    script.chmod(0o755)
    return bin_dir


def start_watched(bin_dir: Path, tmp_path: Path, triton_api: FakeTriton) -> tuple[subprocess.Popen, Path]:
    """The image's entry on a stand-in with a stub, once its watcher has recorded the stub; and its stderr."""
    env = container_env(
        bin_dir, TRITON_ADMIN_KEY="k", TRITON_HTTP_URL="http://127.0.0.1:9", TRITON_READY_URL=f"{triton_api.url}/v2/health/ready"
    )
    log = tmp_path / "entry.log"
    triton_api.ready.clear()
    with open(log, "w") as stderr:
        process = subprocess.Popen(container(), env=env, stderr=stderr)
    deadline = time.monotonic() + 10
    while not any(python_stubs(pid) for pid in children(process.pid)):
        assert time.monotonic() < deadline, "the stand-in never started its stub"
        time.sleep(0.05)
    triton_api.ready.set()  # as Triton, ready only once the stubs run
    while "watch_stubs: watching sentiment.tokenizer_0_0" not in log.read_text():
        assert time.monotonic() < deadline, f"the watcher never recorded the stub: {log.read_text()}"
        time.sleep(0.1)
    return process, log


def test_image_entry_ends_the_container_when_a_python_stub_dies(tmp_path, triton_api):
    process, log = start_watched(stand_in_with_a_stub(tmp_path, "exit 0"), tmp_path, triton_api)
    try:
        os.kill(int((tmp_path / "stub.pid").read_text()), signal.SIGKILL)
        assert process.wait(timeout=15) == 128 + signal.SIGKILL
    finally:
        process.kill()
    assert "Python stub process(es) gone: sentiment.tokenizer_0_0" in log.read_text()


def test_image_entry_lets_the_stubs_end_when_it_stops_triton(tmp_path, triton_api):
    """Triton ends its stubs before it exits: a stop must not turn into a SIGKILL."""
    on_sigterm = f"kill $(cat {tmp_path}/stub.pid); sleep 3; exit 0"
    process, log = start_watched(stand_in_with_a_stub(tmp_path, on_sigterm), tmp_path, triton_api)
    try:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0, log.read_text()
    finally:
        process.kill()
    assert "Python stub process(es) gone" not in log.read_text()


def test_drain_gives_up_at_the_timeout_and_returns_at_once_without_a_server(triton_api):
    started = time.monotonic()
    assert drain(triton_api.url, "key", timeout=0.5) is False
    assert time.monotonic() - started >= 0.5
    started = time.monotonic()
    assert drain("http://127.0.0.1:9", "key", timeout=5) is True
    assert time.monotonic() - started < 3
