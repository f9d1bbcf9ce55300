"""``ModelArtifacts``: a model in memory, what every IOHandler saves and loads (spec §1.3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from ..errors import InvalidModelError, WeightDataError
from .codec import QuantizeOption, Tensors, decode_weights, encode_weight_chunks, weight_byte_ranges
from .jsonfmt import artifacts_info
from .schemas import (
    JSONTopology,
    ManifestGroup,
    ModelArtifactsInfo,
    ModelJSON,
    TrainingConfig,
    WeightSpec,
    check_topology,
    invalid_model_error,
    json_object,
)
from .shards import CompositeBuffer, as_buffers

__all__ = ["ModelArtifacts"]

_OPTIONAL_KEYS = (
    "training_config",
    "format",
    "generated_by",
    "converted_by",
    "signature",
    "user_defined_metadata",
    "model_initializer",
    "initializer_signature",
)


class ModelArtifacts(BaseModel):
    """A TF.js model in memory: topology, weight specs and weight bytes.

    ``weight_data`` is one bytes-like buffer or a list of them (a loaded model keeps one
    buffer per shard; a model built with ``from_weights`` keeps one per weight), never
    joined into one copy. Unknown model.json keys are kept as extra fields.
    ``weights_manifest`` records the groups and shard paths a loaded model came with;
    a save keeps its grouping while the specs still match it.
    """

    model_config = ConfigDict(
        arbitrary_types_allowed=True, extra="allow", populate_by_name=True
    )

    # bytes before str: a bytearray (a binary GraphDef) becomes bytes, never text (the
    # union keeps the first place of a type named twice)
    model_topology: dict[str, Any] | bytes | JSONTopology | None = Field(
        default=None, alias="modelTopology"
    )
    training_config: TrainingConfig | None = Field(default=None, alias="trainingConfig")
    weight_specs: list[WeightSpec] | None = Field(default=None, alias="weightSpecs")
    weight_data: Any = Field(default=None, alias="weightData")
    format: str | None = None
    generated_by: str | None = Field(default=None, alias="generatedBy")
    converted_by: str | None = Field(default=None, alias="convertedBy")
    signature: dict[str, Any] | None = None
    user_defined_metadata: dict[str, Any] | None = Field(default=None, alias="userDefinedMetadata")
    model_initializer: dict[str, Any] | None = Field(default=None, alias="modelInitializer")
    initializer_signature: dict[str, Any] | None = Field(
        default=None, alias="initializerSignature"
    )
    weights_manifest: list[ManifestGroup] | None = Field(default=None, exclude=True)
    _stored_version: str | None = PrivateAttr(default=None)

    def __init__(self, /, **data: Any) -> None:
        # Invalid artifacts raise InvalidModelError (or WeightDataError), not pydantic's
        # error. A custom __init__ also serves model_validate; nothing nests this model.
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise invalid_model_error(exc, "model artifacts") from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        """pydantic's ``model_validate``, raising ``InvalidModelError`` as the constructor does."""
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:  # the custom __init__'s error, wrapped by pydantic
            raise invalid_model_error(exc, "model artifacts") from None

    @field_validator("model_topology", mode="before")
    @classmethod
    def _json_topology(cls, value: Any) -> Any:
        return check_topology(value, binary=True)

    @field_validator("weight_data", mode="before")
    @classmethod
    def _bytes_like(cls, value: Any) -> Any:
        if value is None:
            return None
        as_buffers(value)  # raises TypeError on anything that is not bytes-like
        return value

    @model_validator(mode="after")
    def _data_matches_specs(self) -> ModelArtifacts:
        specs = self.weight_specs
        if self.weight_data is not None and specs is None:
            raise ValueError(
                "artifacts contain weight data but no weight specs; the weights cannot be read"
            )
        if specs is not None:
            seen: set[str] = set()
            for spec in specs:
                if spec.name in seen:
                    raise ValueError(f"duplicate weight name {spec.name!r}")
                seen.add(spec.name)
            try:
                weight_byte_ranges(specs, CompositeBuffer(self.weight_data))
            except WeightDataError:
                if self.weight_data is None:  # a clearer message for the common mistake
                    raise WeightDataError(
                        f"weight specs describe {len(specs)} weights but there is no weight data"
                    ) from None
                raise
        return self

    # -- construction -------------------------------------------------------------

    @classmethod
    def create(cls, **fields: Any) -> ModelArtifacts:
        """Validate keyword fields, raising ``InvalidModelError`` (not pydantic's error)."""
        return cls(**fields)

    @classmethod
    def from_weights(
        cls,
        weights: Tensors,
        *,
        model_topology: Mapping[str, Any] | JSONTopology | None = None,
        optimizer_weights: Tensors | None = None,
        quantize: QuantizeOption = None,
        **fields: Any,
    ) -> ModelArtifacts:
        """Artifacts from numpy arrays (name -> array), without copying them.

        ``optimizer_weights`` are appended with ``group: "optimizer"``, as
        ``LayersModel.save({includeOptimizer: true})`` does. Other keyword fields
        (``format``, ``generated_by``, ``training_config``, …) are passed through.
        """
        specs, chunks = encode_weight_chunks(weights, quantize=quantize)
        if optimizer_weights is not None:
            opt_specs, opt_chunks = encode_weight_chunks(optimizer_weights, "optimizer")
            specs += opt_specs
            chunks += opt_chunks
        return cls.create(
            model_topology=(
                dict(model_topology) if isinstance(model_topology, Mapping) else model_topology
            ),
            weight_specs=specs,
            weight_data=chunks,
            **fields,
        )

    @classmethod
    def from_model_json(
        cls, model_json: ModelJSON, weight_data: Any, drop_keys: Sequence[str] = ()
    ) -> ModelArtifacts:
        """``getModelArtifactsForJSON``: the JSON's fields plus the loaded weight buffers.

        Unknown keys are kept, except ``drop_keys`` (records that belong to one file set).
        """
        has_manifest = model_json.weights_manifest is not None
        fields: dict[str, Any] = {
            "model_topology": model_json.model_topology,
            "weight_specs": model_json.weight_specs if has_manifest else None,
            "weight_data": weight_data if has_manifest else None,
            "weights_manifest": model_json.weights_manifest,
        }
        for key in _OPTIONAL_KEYS:
            if key in model_json.model_fields_set:
                fields[key] = getattr(model_json, key)
        for key, value in (model_json.model_extra or {}).items():
            if key not in drop_keys:
                fields[key] = value
        return cls.create(**fields)

    @property
    def stored_version(self) -> str | None:
        """The version token of the stored model these artifacts were loaded from (what
        ``tfjs_store.model_version`` tells; for ``save(..., if_match=...)``), None when
        they were not loaded from a store that tells versions."""
        return self._stored_version

    @stored_version.setter
    def stored_version(self, value: str | None) -> None:
        self._stored_version = value

    # -- reading ------------------------------------------------------------------

    @property
    def buffers(self) -> list[memoryview]:
        """The weight data as a list of byte views (no copy)."""
        return as_buffers(self.weight_data)

    @property
    def weight_data_bytes(self) -> int:
        return sum(len(b) for b in self.buffers)

    def weights(self, *, strings: Literal["str", "bytes"] = "str") -> dict[str, np.ndarray]:
        """All weights as name -> numpy array (views into the buffers where possible)."""
        if not self.weight_specs:
            return {}
        return decode_weights(self.weight_data, self.weight_specs, strings=strings)

    def info(self) -> ModelArtifactsInfo:
        """``ModelArtifactsInfo`` with TF.js's byte counts, dated now."""
        return artifacts_info(
            self.model_topology,
            [json_object(s) for s in self.weight_specs] if self.weight_specs is not None else None,
            self.weight_data_bytes,
        )

    def group_partition(self) -> list[list[WeightSpec]]:
        """The weight specs split into manifest groups.

        The loaded manifest's grouping is kept when its weights are still exactly these
        specs, in this order; otherwise all weights form one group.
        """
        specs = list(self.weight_specs or [])
        manifest = self.weights_manifest
        if manifest and [w.name for g in manifest for w in g.weights] == [s.name for s in specs]:
            out = []
            pos = 0
            for group in manifest:
                out.append(specs[pos : pos + len(group.weights)])
                pos += len(group.weights)
            return out
        return [specs] if specs else []

    def to_model_json(self, groups: Sequence[ManifestGroup]) -> ModelJSON:
        """The ``ModelJSON`` for these artifacts with the given manifest groups."""
        if isinstance(self.model_topology, (bytes, bytearray)):
            raise InvalidModelError("saving a binary (GraphDef) model topology is not supported")
        data: dict[str, Any] = {
            "modelTopology": self.model_topology,
            "weightsManifest": [json_object(g) for g in groups],
        }
        for key in _OPTIONAL_KEYS:
            if key in self.model_fields_set or getattr(self, key) is not None:
                field = type(self).model_fields[key]
                data[field.alias or key] = json_object(getattr(self, key))
        for key, value in (self.model_extra or {}).items():
            data[key] = value
        return ModelJSON.parse(data, "model artifacts")
