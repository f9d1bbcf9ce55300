"""Pydantic models of the TF.js format (spec §1).

Python attributes are snake_case; JSON keys keep TF.js's camelCase through aliases.
Every model keeps unknown keys (``extra="allow"``) and remembers the key order it was
read with, so a model.json read and written again keeps its bytes.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    FiniteFloat,
    PrivateAttr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from ..errors import InvalidModelError

__all__ = [
    "DTYPES",
    "DTYPE_SIZES",
    "QUANTIZATION_DTYPES",
    "DType",
    "JSONTopology",
    "ManifestGroup",
    "ModelArtifactsInfo",
    "ModelJSON",
    "Quantization",
    "QuantizationDType",
    "SaveResult",
    "TrainingConfig",
    "WeightSpec",
    "check_topology",
    "invalid_model_error",
    "json_object",
]

JSONTopology: TypeAlias = dict[str, Any] | list[Any] | str | bool | int | FiniteFloat
"""``modelTopology`` as TF.js's loaders and savers take it: any JSON value but null.
TF.js's io treats it as opaque JSON (``browserFiles``, the http and file handlers and
``getModelArtifactsInfoForJSON`` only ask whether it is null); what a topology must hold
is for the model builder (``tf.loadLayersModel``) to judge, not the format."""

def check_topology(value: Any, *, binary: bool = False) -> Any:
    """``value`` if it is a ``JSONTopology`` (or None; or bytes-like with ``binary``, a
    GraphDef in memory), else a ``ValueError`` that names what it is."""
    if value is None or isinstance(value, (dict, list, str, bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"modelTopology must be JSON; {value} is not a JSON number")
        return value
    if binary and isinstance(value, (bytes, bytearray)):
        return value
    raise ValueError(
        "modelTopology must be JSON (an object, array, string, number or boolean), "
        f"got {type(value).__name__}"
    )


DType = Literal["float32", "int32", "bool", "string", "complex64"]
QuantizationDType = Literal["uint8", "uint16", "float16"]
DTYPES: tuple[str, ...] = ("float32", "int32", "bool", "string", "complex64")
QUANTIZATION_DTYPES: tuple[str, ...] = ("uint8", "uint16", "float16")
DTYPE_SIZES: Mapping[str, int] = {
    "float32": 4,
    "int32": 4,
    "bool": 1,
    "complex64": 8,
    "uint8": 1,
    "uint16": 2,
    "float16": 2,
}


def _loc(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif "[" in part or part.startswith("function-"):
            continue  # pydantic's validator and union-member steps, not JSON keys
        else:
            out += f".{part}" if out else part
    return out


def invalid_model_error(exc: ValidationError, where: str) -> InvalidModelError:
    """Turn a pydantic ``ValidationError`` into one readable ``InvalidModelError``."""
    errors = exc.errors(include_url=False)
    if len(errors) == 1:
        original = (errors[0].get("ctx") or {}).get("error")
        if isinstance(original, InvalidModelError):  # keep the precise subclass
            loc = _loc(errors[0]["loc"])
            if not loc and str(original).startswith(f"invalid {where}: "):
                return original  # already converted (a custom __init__ inside validation)
            prefix = f"invalid {where}: " + (f"{loc}: " if loc else "")
            return type(original)(prefix + str(original))
    problems = []
    for err in exc.errors(include_url=False)[:10]:
        loc = _loc(err["loc"])
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        problems.append(f"{loc}: {msg}" if loc else msg)
    more = exc.error_count() - len(problems)
    text = "; ".join(problems) + (f"; and {more} more problem(s)" if more > 0 else "")
    return InvalidModelError(f"invalid {where}: {text}")


class _JSONModel(BaseModel):
    """A model that remembers its input key order and writes JSON in that order."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_assignment=False)
    _key_order: tuple[str, ...] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_key_order(cls, data: Any, handler: Any) -> Any:
        obj = handler(data)
        if isinstance(data, Mapping) and isinstance(obj, _JSONModel):
            obj._key_order = tuple(str(k) for k in data)
        return obj

    def _json_items(self) -> Iterator[tuple[str, Any]]:
        """(alias, value) pairs in the order they should be written."""
        by_alias: dict[str, tuple[str, Any]] = {}
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is None and name not in self.model_fields_set:
                continue
            alias = field.alias or name
            by_alias[alias] = (alias, value)
        for key, value in (self.model_extra or {}).items():
            by_alias[key] = (key, value)
        seen = set()
        if self._key_order is not None:
            for key in self._key_order:
                if key in by_alias:
                    seen.add(key)
                    yield by_alias[key]
        for key, item in by_alias.items():
            if key not in seen:
                yield item

    def to_json_obj(self) -> dict[str, Any]:
        """A plain JSON object (dicts, lists, numbers, strings) with camelCase keys."""
        return {key: json_object(value) for key, value in self._json_items()}


def json_object(value: Any) -> Any:
    """Convert schema models (recursively) to plain JSON values, keeping key order."""
    if isinstance(value, _JSONModel):
        return value.to_json_obj()
    if isinstance(value, Mapping):
        return {str(k): json_object(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_object(v) for v in value]
    return value


def _strict_number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return number


def _one_of(allowed: Any, message: str) -> BeforeValidator:
    """A field's check, before pydantic's: the value is one of ``allowed``, else
    ``ValueError(message.format(value))``."""

    def check(value: Any) -> Any:
        if value not in allowed:
            raise ValueError(message.format(value))
        return value

    return BeforeValidator(check)


_KnownDType = Annotated[DType, _one_of(
    DTYPES, "unsupported dtype {!r}; TF.js weights are one of "
    "float32, int32, bool, string, complex64",
)]
_KnownQuantizationDType = Annotated[QuantizationDType, _one_of(
    QUANTIZATION_DTYPES, "unknown quantization dtype {!r}; supported "
    "quantization dtypes are 'uint8', 'uint16' and 'float16'",
)]


class Quantization(_JSONModel):
    """How a weight is stored: ``{dtype, min?, scale?}`` (the converter adds ``original_dtype``)."""

    dtype: _KnownQuantizationDType
    min: float | None = None
    scale: float | None = None

    @field_validator("min", "scale", mode="before")
    @classmethod
    def _finite(cls, value: Any, info: Any) -> Any:
        if value is None:
            return None
        return _strict_number(value, f"quantization {info.field_name}")

    @model_validator(mode="after")
    def _needs_affine_params(self) -> Quantization:
        if self.dtype in ("uint8", "uint16") and (self.min is None or self.scale is None):
            raise ValueError(
                f"quantization {self.dtype} needs both 'min' and 'scale' "
                "(TF.js: doesn't have corresponding metadata min and scale)"
            )
        return self


class WeightSpec(_JSONModel):
    """One entry of a weights manifest: ``{name, shape, dtype, group?, quantization?}``."""

    name: str
    shape: list[int]
    dtype: _KnownDType
    group: str | None = None
    quantization: Quantization | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _name_is_string(cls, value: Any) -> Any:
        if not isinstance(value, str):
            raise ValueError(f"weight name must be a string, got {type(value).__name__}")
        return value

    @field_validator("shape", mode="before")
    @classmethod
    def _integral_dims(cls, value: Any) -> Any:
        if isinstance(value, tuple):
            value = list(value)
        if not isinstance(value, list):
            raise ValueError(f"shape must be a list of integers, got {type(value).__name__}")
        out = []
        for i, dim in enumerate(value):
            if isinstance(dim, float) and dim.is_integer():
                dim = int(dim)  # JSON 2.0 is the number 2 to TF.js
            if hasattr(dim, "__index__") and not isinstance(dim, bool):
                dim = int(dim.__index__())
            else:
                raise ValueError(f"dimension {i} must be a non-negative integer, got {dim!r}")
            if dim < 0:
                raise ValueError(f"dimension {i} must be a non-negative integer, got {dim}")
            out.append(dim)
        return out

    @model_validator(mode="after")
    def _quantization_fits_dtype(self) -> WeightSpec:
        q = self.quantization
        if q is None:
            return self
        if q.dtype == "float16" and self.dtype != "float32":
            raise ValueError(
                f"weight {self.name!r} is quantized with float16, which only supports "
                f"weights of type float32, not {self.dtype}"
            )
        if self.dtype not in ("float32", "int32"):
            raise ValueError(
                f"weight {self.name!r} of dtype {self.dtype} cannot be quantized "
                "(only float32 and int32 weights can)"
            )
        return self

    @property
    def size(self) -> int:
        """Number of elements (the product of the shape)."""
        return math.prod(self.shape)

    @property
    def stored_dtype(self) -> str:
        """The dtype of the bytes on storage: the quantization dtype if any, else ``dtype``."""
        return self.quantization.dtype if self.quantization is not None else self.dtype

    @property
    def byte_length(self) -> int | None:
        """Stored byte length, or ``None`` for strings (their length is in the data)."""
        stored = self.stored_dtype
        if stored == "string":
            return None
        return self.size * DTYPE_SIZES[stored]


def _no_duplicate_names(specs: Sequence[WeightSpec]) -> None:
    seen: set[str] = set()
    for spec in specs:
        if spec.name in seen:
            raise ValueError(f"duplicate weight name {spec.name!r}")
        seen.add(spec.name)


class ManifestGroup(_JSONModel):
    """One group of a weights manifest: shard ``paths`` and the ``weights`` they hold."""

    paths: list[str]
    weights: list[WeightSpec]

    @field_validator("paths", mode="before")
    @classmethod
    def _paths_are_strings(cls, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
            raise ValueError("paths must be a list of strings")
        return value


class TrainingConfig(_JSONModel):
    """``trainingConfig``: the compile arguments. Its keys are snake_case in JSON too."""

    loss: str | list[str] | dict[str, str] | None = None
    metrics: Any = None
    optimizer_config: dict[str, Any] | None = None
    weighted_metrics: Any = None
    sample_weight_mode: Any = None
    loss_weights: Any = None


_TOP_LEVEL = dict(
    model_topology=("modelTopology", None),
    training_config=("trainingConfig", None),
    format=("format", None),
    generated_by=("generatedBy", None),
    converted_by=("convertedBy", None),
    signature=("signature", None),
    user_defined_metadata=("userDefinedMetadata", None),
    model_initializer=("modelInitializer", None),
    initializer_signature=("initializerSignature", None),
)


class ModelJSON(_JSONModel):
    """The on-disk ``model.json``: topology plus ``weightsManifest``; unknown keys survive."""

    model_topology: JSONTopology | None = Field(default=None, alias="modelTopology")
    weights_manifest: list[ManifestGroup] | None = Field(default=None, alias="weightsManifest")
    training_config: TrainingConfig | None = Field(default=None, alias="trainingConfig")
    format: str | None = None
    generated_by: str | None = Field(default=None, alias="generatedBy")
    converted_by: str | None = Field(default=None, alias="convertedBy")
    signature: dict[str, Any] | None = None
    user_defined_metadata: dict[str, Any] | None = Field(
        default=None, alias="userDefinedMetadata"
    )
    model_initializer: dict[str, Any] | None = Field(default=None, alias="modelInitializer")
    initializer_signature: dict[str, Any] | None = Field(
        default=None, alias="initializerSignature"
    )

    @field_validator("model_topology", mode="before")
    @classmethod
    def _json_topology(cls, value: Any) -> Any:
        return check_topology(value)

    @model_validator(mode="before")
    @classmethod
    def _has_topology_or_manifest(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValueError(f"model JSON must be an object, got {type(data).__name__}")
        if (
            data.get("modelTopology") is None
            and data.get("weightsManifest") is None
            and "model_topology" not in data
            and "weights_manifest" not in data
        ):
            raise ValueError("model JSON contains neither 'modelTopology' nor 'weightsManifest'")
        return data

    @model_validator(mode="after")
    def _unique_weight_names(self) -> ModelJSON:
        _no_duplicate_names(self.weight_specs)
        return self

    @property
    def weight_specs(self) -> list[WeightSpec]:
        """All weight specs of all groups, in manifest order (TF.js's ``getWeightSpecs``)."""
        return [w for g in self.weights_manifest or [] for w in g.weights]

    @property
    def weight_paths(self) -> list[str]:
        """All shard paths of all groups, in manifest order."""
        return [p for g in self.weights_manifest or [] for p in g.paths]

    @classmethod
    def parse(cls, data: Any, where: str = "model.json") -> ModelJSON:
        """Validate a decoded JSON object, raising ``InvalidModelError`` on any problem."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise invalid_model_error(exc, where) from None


def _js_date(value: datetime) -> str:
    """``Date.prototype.toJSON``: ``2024-01-01T00:00:00.000Z``."""
    utc = value.astimezone(timezone.utc) if value.tzinfo else value
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


class ModelArtifactsInfo(BaseModel):
    """What a save reports (spec §1.6): when, and how many bytes of each part."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    date_saved: datetime = Field(
        default_factory=lambda: datetime.now(timezone.utc), alias="dateSaved"
    )
    model_topology_type: Literal["JSON", "GraphDef"] = Field(
        default="JSON", alias="modelTopologyType"
    )
    model_topology_bytes: int | None = Field(default=None, alias="modelTopologyBytes")
    weight_specs_bytes: int | None = Field(default=None, alias="weightSpecsBytes")
    weight_data_bytes: int | None = Field(default=None, alias="weightDataBytes")

    @field_serializer("date_saved")
    def _date(self, value: datetime) -> str:
        return _js_date(value)


class SaveResult(BaseModel):
    """The result of a save: the artifacts info, plus HTTP responses for http saves."""

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model_artifacts_info: ModelArtifactsInfo = Field(alias="modelArtifactsInfo")
    responses: list[Any] | None = None
    errors: list[Any] | None = None
    url: str | None = None
    """Where the model JSON was written (tfjs-store's addition; absent in TF.js)."""
    version: str | None = None
    """The committed model's version token (opaque; for ``save(..., if_match=...)``),
    None where the store cannot tell it (tfjs-store's addition; absent in TF.js)."""
