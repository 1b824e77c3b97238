"""The manifest that travels with every model blob."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

Sha256 = Annotated[str, Meta(pattern=r"^[0-9a-f]{64}$")]


class TensorSpec(msgspec.Struct, frozen=True, kw_only=True):
    """Name, shape and dtype of one model input or output, with its int8 quantization."""

    name: str
    shape: list[int]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0


class GoldenCase(msgspec.Struct, frozen=True, kw_only=True):
    """An input with the output the model must give, for a canary check before a swap."""

    input: list[float]
    output: list[float]
    tolerance: float = 0.05


class ModelManifest(msgspec.Struct, frozen=True, kw_only=True, tag="model_manifest"):
    """Everything a device checks before it runs a model."""

    name: Annotated[str, Meta(pattern=r"^[a-z_]{1,40}$")]
    version: Annotated[str, Meta(min_length=1, max_length=64)]
    sha256: Sha256
    size: Annotated[int, Meta(gt=0)]
    feature_spec_hash: Annotated[str, Meta(min_length=8, max_length=64)]
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    labels: list[str] = []
    metrics: dict[str, float] = {}
    created_at: int = 0
    golden: list[GoldenCase] = []
    signature: str = ""
    signer: str = ""
