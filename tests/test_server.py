"""The launcher: the command it builds, how it reports failures, and how it stops."""

import signal
import subprocess
import threading
import time

import pytest

from clients import classify
from server import Endpoints, ServerFailed, TritonServer, start_on_free_ports
from server.drain import finished
from server.installation import TritonInstallation
from server.process import load_failures
from server.supervisor import HealthWatch, RestartBudget
from tests.support import Launcher
from tests.texts import LONG_TEXT

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
    command = TritonServer(tmp_path, Endpoints()).command(TritonInstallation.find(), backends=tmp_path)
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


def test_admin_apis_are_restricted_with_the_operator_key_or_a_random_one(tmp_path):
    installation = TritonInstallation.find()
    keyed = TritonServer(tmp_path, Endpoints(), admin_key="s3cret").command(installation, backends=tmp_path)
    restricted = "logging,trace,shared-memory:admin-key=s3cret"
    assert f"--http-restricted-api={restricted}" in keyed
    assert f"--grpc-restricted-protocol={restricted}" in keyed

    first, second = (TritonServer(tmp_path, Endpoints()) for _ in range(2))
    assert first.admin_key != second.admin_key and len(first.admin_key) == 64
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


@pytest.mark.integration
@pytest.mark.parametrize(
    "break_labels, reason",
    [
        (lambda path: path.unlink(), "labels.json is missing"),
        (lambda path: path.write_text('["negative", "positive"]'), "labels.json names 2 labels but the classifier outputs 3"),
    ],
    ids=["missing", "count-disagrees-with-classifier"],
)
def test_a_model_that_fails_to_load_is_named_with_its_reason(tiny_roberta_repository, tmp_path, break_labels, reason):
    broken = tmp_path / "broken"
    subprocess.run(["cp", "-r", str(tiny_roberta_repository), str(broken)], check=True)
    break_labels(broken / "postprocess" / "1" / "labels.json")

    with pytest.raises(ServerFailed) as failure:
        start_on_free_ports(broken, tmp_path / "server.log")
    message = str(failure.value)
    assert "model 'postprocess' failed to load" in message
    assert reason in message
    assert str(tmp_path / "server.log") in message


@pytest.mark.integration
def test_an_empty_repository_is_refused(tmp_path):
    with pytest.raises(ServerFailed, match="holds no model"):
        TritonServer(tmp_path, Endpoints.on_free_ports()).start()


@pytest.mark.integration
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_lets_in_flight_requests_finish(minilm_repository, tmp_path, stop_signal):
    """Eight requests of 16 maximum-length texts keep the server busy for seconds when the signal comes."""
    with Launcher(minilm_repository, tmp_path) as launcher:
        assert f"HTTP     {launcher.endpoints.http}" in launcher.output()
        outcomes, started = [], threading.Barrier(9)

        def client():
            started.wait()
            try:
                outcomes.append(classify([LONG_TEXT] * 16, url=launcher.endpoints.grpc))
            except Exception as error:  # noqa: BLE001 - the test records every failure
                outcomes.append(error)

        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        started.wait()
        time.sleep(1.0)
        launcher.process.send_signal(stop_signal)
        signalled = time.monotonic()
        for thread in threads:
            thread.join(timeout=60)

        # The launcher drains for at most 30 s, then Triton has its 30 s exit timeout.
        assert launcher.process.wait(timeout=65) == 0
        assert [type(outcome) for outcome in outcomes] == [list] * 8, outcomes
        assert time.monotonic() - signalled > 1.0, "the requests were not in flight when the signal came"
        assert "tritonserver exited with code 0" in launcher.output()
