"""The launcher with a real server: load failures named with their reason, an empty repository refused, stops that let requests finish."""

import signal
import threading
import time

import pytest

from clients import classify
from server import ServerFailed, ServingConfig, TritonServer, free_endpoints
from tests.support import Launcher, start_failure, tokenizer_requests, wait_until_in_flight
from tests.texts import LONG_TEXT


@pytest.mark.parametrize(
    "break_labels, reason",
    [
        (lambda path: path.unlink(), "labels.json is missing"),
        (lambda path: path.write_text('["negative", "positive"]'), "labels.json names 2 labels but the classifier outputs 3"),
    ],
    ids=["missing", "count-disagrees-with-classifier"],
)
def test_a_model_that_fails_to_load_is_named_with_its_reason(tiny_roberta_repository, tmp_path, break_labels, reason):
    message = start_failure(tiny_roberta_repository, tmp_path, lambda pipeline: break_labels(pipeline.labels_file))
    assert "model 'sentiment.postprocess' (pipeline 'sentiment') failed to load" in message
    assert reason in message


def test_an_empty_repository_is_refused(tmp_path):
    with pytest.raises(ServerFailed, match="holds no model"):
        TritonServer(ServingConfig(str(tmp_path), free_endpoints())).start()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_stop_signal_lets_in_flight_requests_finish(minilm_repository, tmp_path, stop_signal):
    """Eight requests of 4 maximum-length texts keep the server busy for seconds when the signal comes (4 to 5 s
    on two idle cores: far inside the 30 s drain, even on a machine loaded several times over)."""
    with Launcher(minilm_repository, tmp_path) as launcher:
        assert f"HTTP     {launcher.endpoints.http}" in launcher.output()
        outcomes, started = [], threading.Barrier(9)

        def client():
            started.wait()
            try:
                outcomes.append(classify([LONG_TEXT] * 4, url=launcher.endpoints.grpc))
            except Exception as error:  # noqa: BLE001 - the test records every failure
                outcomes.append(error)

        before = tokenizer_requests(launcher.endpoints.http, "sentiment")
        threads = [threading.Thread(target=client) for _ in range(8)]
        for thread in threads:
            thread.start()
        started.wait()
        wait_until_in_flight(launcher.endpoints.http, "sentiment", 8, since=before)
        launcher.process.send_signal(stop_signal)
        signalled = time.monotonic()
        for thread in threads:
            thread.join(timeout=60)

        # The launcher drains for at most 30 s, then Triton has its 30 s exit timeout.
        assert launcher.process.wait(timeout=65) == 0
        assert [type(outcome) for outcome in outcomes] == [list] * 8, outcomes
        assert time.monotonic() - signalled > 1.0, "the requests were not in flight when the signal came"
        assert "tritonserver exited with code 0" in launcher.output()
