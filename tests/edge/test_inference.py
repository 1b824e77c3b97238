"""Models are verified before use; a bad one is refused by name and the good one stays."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from edge.inference import ModelRefusedError, ModelRegistry, canary
from edge.spec_hashes import SPEC_HASHES
from models.artifact import ARTIFACT_DIR, load_verified, sha256_hex
from models.errors import ArtifactError
from models.tflite import TFLiteModel, runtime_name
from sync.manifest import GoldenCase


@pytest.fixture
def registry(tmp_path) -> ModelRegistry:
    return ModelRegistry(tmp_path / "models", SPEC_HASHES)


@pytest.fixture(scope="module")
def shipped():
    return load_verified(ARTIFACT_DIR, "language")


def with_version(manifest, blob: bytes, version: str, **changes):
    return msgspec.structs.replace(
        manifest, version=version, sha256=sha256_hex(blob), size=len(blob), **changes
    )


def test_the_device_runs_tflite_runtime_not_tensorflow():
    assert runtime_name() == "tflite_runtime"


def test_the_shipped_model_loads_verified_and_passes_its_canary(registry, shipped):
    _, manifest = shipped
    model = registry.get("language")
    assert model.manifest.version == manifest.version
    assert registry.get("language") is model  # one interpreter, reused
    assert registry.versions() == {"language": manifest.version}


def test_a_new_version_is_installed_and_the_previous_kept_for_rollback(registry, shipped):
    blob, manifest = shipped
    registry.get("language")
    new = with_version(manifest, blob, "2099.01.01")
    registry.install(blob, new)
    assert registry.get("language").manifest.version == "2099.01.01"
    assert (registry.installed_dir / "language" / "2099.01.01" / "language.tflite").exists()
    reopened = ModelRegistry(registry.installed_dir, SPEC_HASHES)
    assert reopened.get("language").manifest.version == "2099.01.01"
    assert registry.rollback("language") == manifest.version


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_blob_that_does_not_match_its_manifest_is_refused(registry, shipped, damage):
    blob, manifest = shipped
    before = registry.get("language")
    bad = bytearray(blob)
    if damage == "flip":
        bad[len(bad) // 2] ^= 0xFF
    else:
        bad = bad[: len(bad) // 3]
    with pytest.raises(ModelRefusedError, match=r"model language .*(sha256|size)"):
        registry.install(bytes(bad), with_version(manifest, blob, "2099.01.02"))
    assert registry.get("language") is before


@pytest.mark.parametrize("fraction", [0.5, 0.1])
def test_a_truncated_model_with_a_matching_manifest_is_refused_without_crashing(
    registry, shipped, fraction
):
    """A malformed flatbuffer can segfault the interpreter: the check runs in a child."""
    blob, manifest = shipped
    before = registry.get("language")
    bad = blob[: int(len(blob) * fraction)]
    with pytest.raises(ModelRefusedError, match="model language"):
        registry.install(bad, with_version(manifest, bad, "2099.01.03"))
    assert registry.get("language") is before


def test_bytes_that_are_not_a_flatbuffer_are_refused(registry, shipped):
    _, manifest = shipped
    junk = b"<html>not a model</html>" * 10
    with pytest.raises(ModelRefusedError, match="not a TFLite flatbuffer"):
        registry.install(junk, with_version(manifest, junk, "2099.01.07"))


def test_a_feature_spec_mismatch_is_refused(registry, shipped):
    blob, manifest = shipped
    other = with_version(manifest, blob, "2099.01.04", feature_spec_hash="deadbeefdeadbeef")
    with pytest.raises(ModelRefusedError, match="feature-spec hash deadbeefdeadbeef"):
        registry.install(blob, other)


def test_a_model_that_fails_its_golden_cases_is_refused(registry, shipped):
    blob, manifest = shipped
    case = manifest.golden[0]
    wrong = GoldenCase(
        input=case.input, output=(1.0 - np.asarray(case.output)).tolist(), tolerance=0.01
    )
    liar = with_version(manifest, blob, "2099.01.05", golden=[wrong])
    with pytest.raises(ModelRefusedError, match="golden case 0"):
        registry.install(blob, liar)
    assert registry.get("language").manifest.version == manifest.version


def test_a_damaged_download_on_disk_falls_back_to_the_shipped_model(registry, shipped):
    blob, manifest = shipped
    registry.install(blob, with_version(manifest, blob, "2099.01.06"))
    path = registry.installed_dir / "language" / "2099.01.06" / "language.tflite"
    path.write_bytes(path.read_bytes()[:1000])
    fresh = ModelRegistry(registry.installed_dir, SPEC_HASHES)
    assert fresh.get("language").manifest.version == manifest.version


def test_an_unknown_model_name_is_refused(registry, shipped):
    blob, manifest = shipped
    with pytest.raises(ModelRefusedError, match="'mystery' is not one this runtime knows"):
        registry.install(blob, msgspec.structs.replace(manifest, name="mystery"))


def test_wrong_input_shape_names_the_model_and_the_shape(shipped):
    blob, manifest = shipped
    model = TFLiteModel(blob, manifest)
    with pytest.raises(ArtifactError, match=r"model language: input .* wants shape \[128\]"):
        model.predict1(np.zeros((2, 7), dtype=np.int32))


@pytest.mark.parametrize("name", sorted(SPEC_HASHES))
def test_every_shipped_model_matches_the_feature_code_the_runtime_runs(name):
    """A feature-spec change without retraining would make the device refuse the model."""
    model = ModelRegistry(None, SPEC_HASHES).get(name)
    assert model.manifest.feature_spec_hash == SPEC_HASHES[name]()
    assert model.manifest.golden, f"{name} ships no golden cases for its canary"


def test_a_two_input_models_canary_splits_each_golden_row_and_refuses_a_short_one():
    """The intervention model takes (lead, slots): a golden row is both parts, concatenated."""
    from models.intervention import INTERVENTION_SPEC_HASH, NAME

    blob, manifest = load_verified(ARTIFACT_DIR, NAME, INTERVENTION_SPEC_HASH)
    model = TFLiteModel(blob, manifest)
    assert len(model.input_sizes) == 2
    canary(model)  # the shipped cases pass
    case = manifest.golden[0]
    short = msgspec.structs.replace(case, input=case.input[:-1])
    bad = TFLiteModel(blob, msgspec.structs.replace(manifest, golden=[short]))
    with pytest.raises(ModelRefusedError, match=r"golden case 0 has \d+ input values"):
        canary(bad)
