"""Store locations and manifests without a store: Triton's s3:// syntax, content-named versions recording every
pipeline, refused manifests and repositories."""

import json
from pathlib import Path

import pytest

from conversion.repository import DEFAULT_PIPELINE, Manifest, Pipeline
from store import Location, StoreError
from store import version_manifest


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


def converted(folder: Path, model_bytes: bytes = b"weights", pipelines: tuple[str, ...] = (DEFAULT_PIPELINE,)) -> Path:
    """A small stand-in for a converted repository: files that agree as Repository.check wants them."""
    for name in pipelines:
        pipeline = Pipeline(folder, name)
        for model in pipeline.models:
            pipeline.write_text(f"{model}/config.pbtxt", f'name: "{model}"\n')
        record = Manifest(f"checkpoint of {name}", ["a", "b"], 8, 0.0, 0.0, {"cpu": 256})
        pipeline.write(relative(pipeline, pipeline.model_file), lambda temporary: Path(temporary).write_bytes(model_bytes))
        pipeline.write_text(relative(pipeline, pipeline.tokenizer_file), json.dumps({"truncation": {"max_length": 8}}))
        pipeline.write_text(relative(pipeline, pipeline.labels_file), json.dumps(record.labels))
        pipeline.write_text(relative(pipeline, pipeline.manifest_file), record.to_json())
    cache = Pipeline(folder).tokenizer_file.parent / "__pycache__"
    cache.mkdir()
    (cache / "model.cpython-311.pyc").write_bytes(b"cache")
    return folder


def relative(pipeline: Pipeline, path: Path) -> str:
    return path.relative_to(pipeline.root).as_posix()


def test_the_version_is_named_by_the_content(tmp_path):
    first = version_manifest.build(converted(tmp_path / "a"))
    same = version_manifest.build(converted(tmp_path / "b"))
    other = version_manifest.build(converted(tmp_path / "c", model_bytes=b"other weights"))
    assert first["version"] == same["version"] != other["version"]
    assert version_manifest.build(tmp_path / "a", name="release-1")["version"] == f"release-1-{first['version']}"
    pipeline = Pipeline(tmp_path / "a")
    configs = [f"{model}/config.pbtxt" for model in pipeline.models]
    assert sorted(first["files"]) == sorted([*configs, *pipeline.artifacts]), "no bytecode cache"
    model = relative(pipeline, pipeline.model_file)
    assert first["files"][model] == {"sha256": version_manifest.sha256_file(pipeline.model_file), "bytes": 7}
    assert first["format"] == 2 and first["pipelines"] == {DEFAULT_PIPELINE: json.loads(pipeline.manifest_text())}
    assert "torch" in first["libraries"]
    version_manifest.check(first, first["version"])


def test_a_version_records_every_pipeline_of_the_repository(tmp_path):
    repository = converted(tmp_path, pipelines=("sentiment", "nli", "rating"))
    manifest = version_manifest.build(repository)
    assert sorted(manifest["pipelines"]) == ["nli", "rating", "sentiment"]
    for name, record in manifest["pipelines"].items():
        assert record == json.loads(Pipeline(repository, name).manifest_text())
        assert set(Pipeline(repository, name).artifacts) <= set(manifest["files"])


def test_a_manifest_changed_after_publishing_is_refused(tmp_path):
    manifest = version_manifest.build(converted(tmp_path))
    edited = json.loads(json.dumps(manifest))
    edited["files"][relative(Pipeline(tmp_path), Pipeline(tmp_path).model_file)]["sha256"] = "0" * 64
    with pytest.raises(StoreError, match="changed after publishing"):
        version_manifest.check(edited, manifest["version"])
    escaping = {"format": version_manifest.FORMAT, "files": {"../outside": {"sha256": "0" * 64, "bytes": 1}}}
    with pytest.raises(StoreError, match="outside the repository"):
        version_manifest.check(escaping, version_manifest.version_name(escaping["files"]))
    with pytest.raises(StoreError, match="not a published version name"):
        version_manifest.check(manifest, "latest")


def test_format_1_manifests_are_still_read_and_unknown_formats_refused():
    """Versions published before a repository held several pipelines: one conversion record, old model names."""
    files = {"classifier/1/model.pt": {"sha256": "0" * 64, "bytes": 7}}
    old = {"format": 1, "version": version_manifest.version_name(files), "files": files, "conversion": {"labels": ["a"]}}
    version_manifest.check(old, old["version"])
    with pytest.raises(StoreError, match=r"is not a manifest of format 1 or 2$"):
        version_manifest.check({**old, "format": 3}, old["version"])


def test_only_converted_repositories_are_published(tmp_path):
    skeleton = tmp_path / "skeleton"
    for model in Pipeline(skeleton).models:
        Pipeline(skeleton).write_text(f"{model}/config.pbtxt", f'name: "{model}"\n')
    with pytest.raises(StoreError, match=r"holds no converted pipeline: run python -m conversion first$"):
        version_manifest.build(skeleton)
    with pytest.raises(StoreError, match="holds no converted pipeline"):
        version_manifest.build(tmp_path / "missing")
    incomplete = converted(tmp_path / "incomplete", pipelines=("sentiment", "nli"))
    Pipeline(incomplete, "nli").model_file.unlink()
    with pytest.raises(StoreError, match=r"is missing nli\.classifier/1/model\.pt: run python -m conversion again$"):
        version_manifest.build(incomplete)
    with pytest.raises(StoreError, match="may hold only"):
        version_manifest.build(converted(tmp_path / "r"), name="no spaces")
