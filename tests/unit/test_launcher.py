"""The launcher's logic without a server: its command line, load-failure reports, the drain's end, the health
watch, the restart budget and the removal of abandoned backend copies."""

import os
import subprocess

from server import ServingConfig, TritonServer
from server.drain import finished
from server.installation import TritonInstallation
from server.triton_server import BACKENDS_PREFIX, backends_folder, load_failures
from server.supervisor import HealthWatch, RestartBudget
from server.triton_flags import restricted_api_flags

LOG_LINE = (
    'E1122 02:07:55.352981 4314 model_lifecycle.cc:642] "failed to load \'postprocess\' version 1: Internal: '
    "FileNotFoundError: /r/postprocess/1/labels.json is missing: build the repository\\n\\nAt:\\n  /r/model.py(13)\""
)


def test_load_failures_reads_the_reason_without_the_python_stack():
    assert load_failures(LOG_LINE) == {
        "postprocess": "Internal: FileNotFoundError: /r/postprocess/1/labels.json is missing: build the repository"
    }


def test_the_drain_is_finished_once_no_ensemble_is_loaded_or_unloading():
    assert not finished({"sentiment": "READY", "tokenizer": "READY"}, ["sentiment"])
    assert not finished({"sentiment": "UNLOADING", "tokenizer": "READY"}, ["sentiment"])
    assert finished({"sentiment": "UNAVAILABLE", "tokenizer": "READY"}, ["sentiment"])
    assert finished({"tokenizer": "READY"}, ["sentiment"])  # gone from the index
    assert finished({"tokenizer": "READY"}, [])  # a repository without an ensemble has nothing to drain


def test_binds_loopback_with_production_flags(tmp_path):
    command = TritonServer(ServingConfig(str(tmp_path))).command(TritonInstallation.find(), backends=tmp_path)
    for flag in (
        "--http-address=127.0.0.1",
        "--grpc-address=127.0.0.1",
        "--metrics-address=127.0.0.1",
        "--model-control-mode=explicit",
        "--load-model=*",
        "--strict-readiness=true",
        "--exit-on-error=true",
    ):
        assert flag in command
    verbose = TritonServer(ServingConfig(str(tmp_path)), extra_args=("--log-verbose=1",)).command(TritonInstallation.find(), backends=tmp_path)
    assert verbose[-1] == "--log-verbose=1", "extra arguments go last"


def test_admin_apis_are_restricted_with_the_operator_key_or_a_random_one(tmp_path):
    installation = TritonInstallation.find()
    keyed = TritonServer(ServingConfig(str(tmp_path), admin_key="s3cret")).command(installation, backends=tmp_path)
    restricted = "logging,trace,shared-memory:admin-key=s3cret"
    assert f"--http-restricted-api={restricted}" in keyed
    assert f"--grpc-restricted-protocol={restricted}" in keyed

    first, second = (TritonServer(ServingConfig(str(tmp_path))) for _ in range(2))
    assert first.config.admin_key != second.config.admin_key and len(first.config.admin_key) == 64
    # Load and unload: a key of the launcher's own for every server, whatever the operator's key.
    assert first.repository_key != second.repository_key and len(first.repository_key) == 64
    repository_api = f"model-repository:repository-key={first.repository_key}"
    command = first.command(installation, backends=tmp_path)
    assert f"--http-restricted-api={repository_api}" in command and f"--grpc-restricted-protocol={repository_api}" in command


def test_health_watch_reports_a_model_unready_on_consecutive_checks_only():
    watch = HealthWatch(grace=2)
    assert watch.problem(None, [], ["tokenizer"]) is None
    assert watch.problem(None, [], []) is None  # ready again: the count starts over
    assert watch.problem(None, [], ["tokenizer"]) is None
    assert watch.problem(None, [], ["tokenizer", "sentiment"]) == "model(s) not ready: tokenizer, sentiment"


def test_health_watch_reports_an_exit_or_a_dead_stub_at_once():
    assert HealthWatch().problem(-9, [], []) == "tritonserver exited with code -9"
    assert HealthWatch().problem(None, ["tokenizer_0_0"], []) == "Python stub process(es) gone: tokenizer_0_0"


def test_restart_budget_refuses_a_crash_loop_and_recovers_after_the_window():
    budget = RestartBudget(limit=2, window_seconds=60)
    assert budget.take(now=0) and budget.take(now=10)
    assert not budget.take(now=20)
    assert budget.take(now=61)


def test_backend_copies_of_launchers_that_are_gone_are_removed_before_a_new_one(tmp_path):
    ended = subprocess.Popen(["true"])
    ended.wait()
    abandoned = tmp_path / f"{BACKENDS_PREFIX}{ended.pid}-x1"
    running = tmp_path / f"{BACKENDS_PREFIX}{os.getpid()}-x2"
    unrelated = tmp_path / f"{BACKENDS_PREFIX}abc"
    for folder in (abandoned, running, unrelated):
        (folder / "python").mkdir(parents=True)
    fresh = backends_folder(tmp_path)
    assert not abandoned.exists() and running.exists() and unrelated.exists()
    assert fresh.parent == tmp_path and fresh.name.startswith(f"{BACKENDS_PREFIX}{os.getpid()}-")



def test_model_control_is_keyed_unless_opened():
    keyed = restricted_api_flags("admin", "repository")
    assert "--http-restricted-api=model-repository:repository-key=repository" in keyed
    assert "--grpc-restricted-protocol=model-repository:repository-key=repository" in keyed
    opened = restricted_api_flags("admin", None)
    assert not any("model-repository" in flag for flag in opened)
    assert "--http-restricted-api=logging,trace,shared-memory:admin-key=admin" in opened  # the admin APIs stay keyed
