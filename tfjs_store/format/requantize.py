"""Requantizing a model's weights as the converter does (``--quantize_*``).

The weights are decoded and encoded again; what is kept and what changes follows the
converter: only float32 weights are quantized, optimizer weights never are.
"""

from __future__ import annotations

import fnmatch
import glob
from collections.abc import Sequence
from typing import NamedTuple

from .artifacts import ModelArtifacts

__all__ = ["Requantized", "requantize"]


class Requantized(NamedTuple):
    """What ``requantize`` made: the new artifacts and the names of the weights it
    quantized to the asked dtype."""

    artifacts: ModelArtifacts
    quantized: list[str]


def requantize(
    artifacts: ModelArtifacts, dtype: str, *, match: Sequence[str] = ()
) -> Requantized:
    """Quantize every float32 weight to ``dtype`` (``"uint8"``, ``"uint16"``,
    ``"float16"``), or only those whose names match a glob in ``match``.

    Weights already quantized that no pattern selects keep their quantization; optimizer
    weights are never quantized; manifest groups other than ``"optimizer"`` are kept.
    Raises ``ValueError`` when a pattern matches no weight or the topology is binary.
    """
    if isinstance(artifacts.model_topology, (bytes, bytearray)):
        raise ValueError("quantizing needs a JSON model topology (this one is binary)")
    specs = list(artifacts.weight_specs or [])
    model_specs = [s for s in specs if s.group != "optimizer"]
    names = [s.name for s in model_specs]
    for pattern in match:
        if not fnmatch.filter(names, pattern):
            shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
            raise ValueError(
                f"the pattern {pattern!r} matches no weight of the model "
                f"(weight names: {shown or '(none)'})"
            )
    plan: dict[str, str] = {}
    for spec in model_specs:
        if spec.dtype != "float32":
            continue
        if not match or any(fnmatch.fnmatchcase(spec.name, p) for p in match):
            plan[spec.name] = dtype
        elif spec.quantization is not None:
            plan[spec.name] = spec.quantization.dtype
    by_dtype: dict[str, list[str]] = {}
    for name, d in plan.items():
        by_dtype.setdefault(d, []).append(glob.escape(name))

    arrays = artifacts.weights()
    model = {s.name: arrays[s.name] for s in model_specs}
    optimizer = {s.name: arrays[s.name] for s in specs if s.group == "optimizer"}
    skip = {"model_topology", "weight_specs", "weight_data"}
    fields = {
        name: getattr(artifacts, name)
        for name in artifacts.model_fields_set
        if name in type(artifacts).model_fields and name not in skip
    }
    fields.update(artifacts.model_extra or {})
    new = ModelArtifacts.from_weights(
        model,
        model_topology=artifacts.model_topology,
        optimizer_weights=optimizer or None,
        quantize=by_dtype or None,
        **fields,
    )
    groups = {s.name: s.group for s in specs}
    for spec in new.weight_specs or []:  # keep groups other than "optimizer" too
        if groups.get(spec.name) and spec.group != groups[spec.name]:
            spec.group = groups[spec.name]
    return Requantized(new, [n for n, d in plan.items() if d == dtype])
