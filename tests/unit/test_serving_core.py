"""The serving core without Triton: one configuration from argv or the environment, and the process helper
on real child processes."""

import sys
import time

import pytest

from clients.classify import DEFAULT_URLS
from server import processes
from server.__main__ import parse_args
from server.config import ConfigError, Endpoints, ServingConfig
from server.triton_flags import serving_flags

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
IGNORES_SIGTERM = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"]


def test_the_launcher_and_the_image_share_every_timeout_default():
    launcher = ServingConfig().with_arguments(parse_args([]))
    image = ServingConfig.from_environment({"TRITON_ADMIN_KEY": "k"})
    for setting in ("drain_timeout", "exit_timeout", "ready_timeout", "restart_drain_timeout"):
        assert getattr(launcher, setting) == getattr(image, setting) == getattr(ServingConfig(), setting), setting
    assert launcher.endpoints == Endpoints() and image.endpoints.http == Endpoints().http
    assert (launcher.repository, image.repository) == ("model_repository", "/models")


def test_the_clients_default_addresses_are_the_servers_default_endpoints():
    # The client image carries clients/ alone, so the client keeps its own copy of the defaults.
    assert DEFAULT_URLS == {"grpc": Endpoints().grpc, "http": Endpoints().http.removeprefix("http://")}


def test_the_launchers_options_fill_the_configuration():
    argv = ["--model-repository", "elsewhere", "--host", "0.0.0.0", "--http-port", "9000", "--drain-timeout", "12", "--open-model-control"]
    config = ServingConfig().with_arguments(parse_args(argv))
    assert config.repository == "elsewhere" and config.drain_timeout == 12 and config.open_model_control
    assert config.endpoints == Endpoints("0.0.0.0", 9000, 8001, 8002)


def test_the_images_variables_fill_the_configuration_and_empty_ones_keep_the_default():
    env = {"MODEL_REPOSITORY": "s3://bucket/v1", "DRAIN_TIMEOUT_SECS": "7.5", "EXIT_TIMEOUT_SECS": "", "TRITON_HTTP_URL": "http://10.0.0.2:9000"}
    config = ServingConfig.from_environment(env)
    assert (config.repository, config.drain_timeout, config.exit_timeout) == ("s3://bucket/v1", 7.5, 30)
    assert config.endpoints.http == "http://10.0.0.2:9000"
    assert config.readiness_url == "http://10.0.0.2:9000/v2/health/ready", "the stub watch waits on the same server"


def test_the_response_cache_is_off_unless_sized_by_an_option_or_a_variable(capsys):
    assert serving_flags("r", "k", None, 30) == serving_flags("r", "k", None, 30, ServingConfig().response_cache_mb)
    assert not [flag for flag in serving_flags("r", "k", None, 30) if flag.startswith("--cache")]
    launcher = ServingConfig().with_arguments(parse_args(["--response-cache-mb", "64"]))
    image = ServingConfig.from_environment({"RESPONSE_CACHE_MB": "64"})
    assert launcher.response_cache_mb == image.response_cache_mb == 64
    assert "--cache-config=local,size=67108864" in serving_flags("r", "k", None, 30, launcher.response_cache_mb)
    for bad in ("-1", "lots", "1.5"):
        with pytest.raises(SystemExit):
            parse_args(["--response-cache-mb", bad])
        assert "must be a whole number of MiB" in capsys.readouterr().err


def test_a_variable_that_cannot_be_read_is_named():
    with pytest.raises(ConfigError, match="EXIT_TIMEOUT_SECS='30.5'"):
        ServingConfig.from_environment({"EXIT_TIMEOUT_SECS": "30.5"})


def test_the_grace_period_covers_the_drain_and_the_exit_timeout():
    config = ServingConfig(drain_timeout=20, exit_timeout=10)
    assert config.termination_grace_period > config.drain_timeout + config.exit_timeout
    assert config.kill_after > config.exit_timeout


def test_waiting_for_a_process_that_exits_says_so_at_once(tmp_path):
    process = processes.start([sys.executable, "-c", "raise SystemExit(3)"], tmp_path / "out.log")
    began = time.monotonic()
    with pytest.raises(processes.ProcessFailed, match="exited with code 3"):
        processes.wait_until_ready(process, lambda: False, timeout=60, name="the child", interval=0.05)
    assert time.monotonic() - began < 30


def test_waiting_past_the_deadline_fails_and_ready_returns(tmp_path):
    process = processes.start(SLEEPER, tmp_path / "out.log")
    try:
        with pytest.raises(processes.ProcessFailed, match="not ready after 0 s"):
            processes.wait_until_ready(process, lambda: False, timeout=0.2, name="the child", interval=0.05)
        processes.wait_until_ready(process, lambda: True, timeout=0.2, name="the child")
    finally:
        assert processes.stop(process, grace=5, name="the child") == -15


def test_stop_kills_a_process_that_ignores_sigterm_after_the_grace(tmp_path):
    output = tmp_path / "out.log"
    process = processes.start(IGNORES_SIGTERM, output)
    processes.wait_until_ready(process, lambda: "up" in output.read_text(), timeout=30, name="the child", interval=0.05)
    began = time.monotonic()
    assert processes.stop(process, grace=0.5, name="the child") == -9
    assert time.monotonic() - began < 10
    assert processes.exit_status(process.returncode) == 137
