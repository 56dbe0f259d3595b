"""Store locations and manifests without a store: Triton's s3:// syntax, content-named versions, refused manifests."""

import json
from pathlib import Path

import pytest

from store import Location, StoreError
from store import manifest as manifests


def test_locations_use_tritons_s3_syntax():
    store = Location.parse("s3://http://127.0.0.1:8333/models/sentiment/v1-0123456789abcdef")
    assert (store.endpoint, store.bucket, store.prefix) == ("http://127.0.0.1:8333", "models", "sentiment/v1-0123456789abcdef")
    assert store.name == "v1-0123456789abcdef"
    assert str(store.parent) == "s3://http://127.0.0.1:8333/models/sentiment"
    assert store.parent.child("x").key("a/b.txt") == "sentiment/x/a/b.txt"
    aws = Location.parse("s3://bucket/path/")
    assert (aws.endpoint, aws.bucket, aws.prefix, str(aws)) == (None, "bucket", "path", "s3://bucket/path")
    for bad in ("/models/sentiment", "s3://", "gs://bucket/x"):
        with pytest.raises(StoreError):
            Location.parse(bad)


def converted(folder: Path, model_bytes: bytes = b"weights") -> Path:
    """A small stand-in for a converted repository: what the manifest sees is files."""
    (folder / "classifier" / "1").mkdir(parents=True)
    (folder / "classifier" / "1" / "model.pt").write_bytes(model_bytes)
    (folder / "classifier" / "1" / "conversion.json").write_text(json.dumps({"labels": ["a", "b"]}))
    (folder / "classifier" / "config.pbtxt").write_text('name: "classifier"\n')
    (folder / "tokenizer" / "1" / "__pycache__").mkdir(parents=True)
    (folder / "tokenizer" / "1" / "__pycache__" / "model.cpython-311.pyc").write_bytes(b"cache")
    return folder


def test_the_version_is_named_by_the_content(tmp_path):
    first = manifests.build(converted(tmp_path / "a"))
    same = manifests.build(converted(tmp_path / "b"))
    other = manifests.build(converted(tmp_path / "c", model_bytes=b"other weights"))
    assert first["version"] == same["version"] != other["version"]
    assert manifests.build(tmp_path / "a", name="release-1")["version"] == f"release-1-{first['version']}"
    assert sorted(first["files"]) == ["classifier/1/conversion.json", "classifier/1/model.pt", "classifier/config.pbtxt"]
    assert first["files"]["classifier/1/model.pt"] == {"sha256": manifests.sha256_file(tmp_path / "a/classifier/1/model.pt"), "bytes": 7}
    assert first["conversion"] == {"labels": ["a", "b"]} and "torch" in first["libraries"]
    manifests.check(first, first["version"])


def test_a_manifest_changed_after_publishing_is_refused(tmp_path):
    manifest = manifests.build(converted(tmp_path))
    edited = json.loads(json.dumps(manifest))
    edited["files"]["classifier/1/model.pt"]["sha256"] = "0" * 64
    with pytest.raises(StoreError, match="changed after publishing"):
        manifests.check(edited, manifest["version"])
    escaping = {"format": manifests.FORMAT, "files": {"../outside": {"sha256": "0" * 64, "bytes": 1}}}
    with pytest.raises(StoreError, match="outside the repository"):
        manifests.check(escaping, manifests.version_name(escaping["files"]))
    with pytest.raises(StoreError, match="not a published version name"):
        manifests.check(manifest, "latest")


def test_only_converted_repositories_are_published(tmp_path):
    (tmp_path / "classifier").mkdir()
    with pytest.raises(StoreError, match="has not been converted"):
        manifests.build(tmp_path)
    with pytest.raises(StoreError, match="may hold only"):
        manifests.build(converted(tmp_path / "r"), name="no spaces")
