"""Faults under the launcher (`python -m server`): a killed Python stub, and SIGTERM under load, with one
pipeline or several."""

import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.contention import busy_loops
from clients import Classifier, ClientError
from conversion.convert import ConversionOptions, convert
from server.__main__ import parse_args
from server.procfs import python_stubs
from tests.support import Launcher, tokenizer_requests, wait_until_in_flight

CLIENT_TIMEOUT = 20.0


@dataclass
class Outcome:
    started: float
    seconds: float
    error: str | None  # None: answered
    refused_at_the_door: bool = False  # a stopping server turned it away before any work

    @property
    def ended(self) -> float:
        return self.started + self.seconds


class Load:
    """`clients` threads each sending one text after another until stopped, recording every outcome."""

    def __init__(self, url: str, clients: int):
        self.url, self.outcomes, self.stopped = url, [], threading.Event()
        self.threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(clients)]

    def _loop(self):
        classifier = None
        while not self.stopped.is_set():
            started = time.monotonic()
            try:
                classifier = classifier or Classifier(self.url, timeout=CLIENT_TIMEOUT)
                classifier.classify(["The parcel arrived today."])
                outcome = Outcome(started, time.monotonic() - started, None)
            except ClientError as failure:
                outcome = Outcome(started, time.monotonic() - started, str(failure), failure.stopping)
                if classifier:
                    classifier.close()
                classifier = None  # the server may be restarting: connect again
            self.outcomes.append(outcome)
            if outcome.error:
                time.sleep(0.2)

    def __enter__(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopped.set()
        for thread in self.threads:
            thread.join(timeout=CLIENT_TIMEOUT + 5)

    def answered_after(self, moment: float) -> bool:
        return any(outcome.error is None and outcome.started > moment for outcome in self.outcomes)


def assert_no_request_hung_or_failed_obscurely(outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        assert outcome.seconds < CLIENT_TIMEOUT, f"a request hung for {outcome.seconds:.1f} s: {outcome.error}"
        if outcome.error:
            assert "Traceback" not in outcome.error and len(outcome.error) > 20, outcome.error


@pytest.mark.parametrize("instance", ["sentiment.tokenizer_0_0", "sentiment.postprocess_0_0"])
def test_a_killed_stub_is_noticed_and_the_service_restored(tiny_roberta_repository, tmp_path, instance):
    with Launcher(tiny_roberta_repository, tmp_path) as launcher, Load(launcher.endpoints.grpc, clients=4) as load:
        time.sleep(1.0)
        os.kill(python_stubs(launcher.server_pid())[instance], signal.SIGKILL)
        killed = time.monotonic()
        while not load.answered_after(killed + 1.0) and time.monotonic() - killed < 60:
            time.sleep(0.5)
        restored = time.monotonic() - killed
    assert restored < 60, f"not restored 60 s after the kill:\n{launcher.output()}"

    output = launcher.output()
    assert f"Python stub process(es) gone: {instance}; restarting tritonserver" in output
    assert "restarting tritonserver" in output and "service restored" in output
    assert_no_request_hung_or_failed_obscurely(load.outcomes)
    failures = [outcome.error for outcome in load.outcomes if outcome.error]
    assert failures, "no request fell in the gap: the test did not exercise it"
    print(f"restored {restored:.1f} s after SIGKILL of {instance}; {len(failures)} requests failed meanwhile:")
    print("\n".join(sorted(set(failures))))


def test_sigterm_under_load_finishes_in_flight_requests_then_exits(tiny_roberta_repository, tmp_path):
    launcher = Launcher(tiny_roberta_repository, tmp_path, "--drain-timeout", "10")
    with launcher, Load(launcher.endpoints.grpc, clients=16) as load:
        time.sleep(2.0)
        launcher.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        # The drain closes the ensemble at once, so constant load cannot hold it open; Triton then exits.
        assert launcher.process.wait(timeout=50) == 0
        exited = time.monotonic()

    assert "tritonserver exited with code 0" in launcher.output()
    assert_no_request_hung_or_failed_obscurely(load.outcomes)
    # A request sent just before the signal may reach the server after it closed: refused, never failed.
    sent_before = [outcome for outcome in load.outcomes if outcome.started < signalled]
    failed = [outcome.error for outcome in sent_before if outcome.error and not outcome.refused_at_the_door]
    assert not failed, failed
    in_flight = [outcome for outcome in sent_before if outcome.ended > signalled and outcome.error is None]
    assert in_flight, "no request was in flight at the signal: the test did not exercise the drain"
    print(f"exited {exited - signalled:.1f} s after SIGTERM; outcomes after it:")
    print(sorted({outcome.error for outcome in load.outcomes if outcome.started >= signalled}, key=str))


# About 50 tokens: a mid-length review.
REVIEW = (
    "The first half drags, with long scenes that go nowhere and dialogue that feels forced in almost every "
    "exchange between the two leads. Then the last hour finds its rhythm, the music lifts every scene, and "
    "the ending is honestly moving."
)


@dataclass
class Stop:
    errors: list[str | None]  # per client: None when answered
    answered: list[float]  # when each answer came
    signalled: float
    exited: float


def sigterm_while_clients_wait(launcher: Launcher, clients: int, model: str, timeout: float, busy: int = 0) -> Stop:
    """`clients` connected clients each send 8 reviews to `model`; SIGTERM once every request has passed
    the tokenizer, so each is in flight, with `busy` busy loops running."""
    errors: list[str | None] = []
    answered: list[float] = []
    connected = threading.Barrier(clients + 1)

    def send():
        try:
            with Classifier(launcher.endpoints.grpc, model=model, timeout=timeout + 30) as classifier:
                connected.wait()
                classifier.classify([REVIEW] * 8)
            answered.append(time.monotonic())
            errors.append(None)
        except ClientError as failure:
            errors.append(str(failure))

    with launcher, busy_loops(busy):
        before = tokenizer_requests(launcher.endpoints.http, model)
        threads = [threading.Thread(target=send) for _ in range(clients)]
        for thread in threads:
            thread.start()
        connected.wait(timeout=60)
        wait_until_in_flight(launcher.endpoints.http, model, clients, since=before)
        launcher.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert launcher.process.wait(timeout=timeout + 35) == 0
        exited = time.monotonic()
        for thread in threads:
            thread.join()
    return Stop(errors, answered, signalled, exited)


def test_sigterm_fails_no_accepted_request_while_other_processes_compete_for_the_cores(minilm_repository, tmp_path):
    """40 concurrent requests of 8 mid-length texts, SIGTERM once all are in flight, two busy
    loops running: slow batches with nothing queued behind them, which a drain that waits for silence mistakes
    for idle (requests failed) or waits out for a long quiet period. The drain must end when the last does,
    within the launcher's default drain timeout: with threads that spin against the busy loops, the work
    barely moved and the drain gave up."""
    drain_timeout = parse_args([]).drain_timeout
    launcher = Launcher(minilm_repository, tmp_path)
    stop = sigterm_while_clients_wait(launcher, 40, "sentiment", drain_timeout, busy=2)

    assert stop.errors == [None] * 40, [error for error in stop.errors if error]
    took = stop.exited - stop.signalled
    assert took < drain_timeout, f"exited {took:.1f} s after SIGTERM:\n{launcher.output()}"
    # Signalling Triton and its exit take a few seconds; a drain that waited for silence took tens more.
    assert stop.exited - max(stop.answered) < 10, f"exited {stop.exited - max(stop.answered):.1f} s after the last answer"
    print(f"all 40 answered; the last {max(stop.answered) - stop.signalled:.1f} s and the launcher's exit {took:.1f} s after SIGTERM")


@pytest.fixture(scope="module")
def default_beside_tiny(tmp_path_factory, tiny_roberta_repository) -> Path:
    """The tiny RoBERTa as `sentiment`, and the slower default model beside it as pipeline `reviews`."""
    repository = tmp_path_factory.mktemp("two") / "model_repository"
    shutil.copytree(tiny_roberta_repository, repository)
    convert(ConversionOptions.default(model_repository=repository, name="reviews", token_budget=256))
    return repository


def test_the_drain_waits_for_every_pipeline_not_only_the_default(default_beside_tiny, tmp_path):
    """Requests in flight only on `reviews` when SIGTERM comes: a drain that closed only `sentiment`
    would signal Triton at once, and those requests would fail between two steps."""
    launcher = Launcher(default_beside_tiny, tmp_path, "--drain-timeout", "60")
    stop = sigterm_while_clients_wait(launcher, 24, "reviews", 60)

    assert stop.errors == [None] * 24, [error for error in stop.errors if error]
    assert max(stop.answered) > stop.signalled, "every request was answered before the signal: the test did not exercise the drain"
    assert stop.exited > max(stop.answered)
    print(f"all 24 answered, the last {max(stop.answered) - stop.signalled:.1f} s after SIGTERM; exit {stop.exited - stop.signalled:.1f} s after it")
