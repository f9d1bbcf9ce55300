"""Compare two models and say, in words, how they differ.

Every difference found is a sentence naming the field or weight concerned, so that a
failed check tells the handler's author what their handler got wrong.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from tfjs_store import ModelArtifacts, WeightSpec

__all__ = [
    "artifacts_problems",
    "joined_bytes",
    "js_json_byte_length",
    "spec_objects",
    "weight_bytes_problems",
    "weight_ranges",
]

_OPTIONAL_FIELDS = (
    ("format", "format"),
    ("generated_by", "generatedBy"),
    ("converted_by", "convertedBy"),
    ("signature", "signature"),
    ("user_defined_metadata", "userDefinedMetadata"),
    ("model_initializer", "modelInitializer"),
    ("initializer_signature", "initializerSignature"),
)


def _plain(value: Any) -> Any:
    """JSON-like value with ``None`` entries of objects dropped (TF.js treats a null
    optional field as absent)."""
    if hasattr(value, "to_json_obj"):
        value = value.to_json_obj()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def spec_objects(specs: Sequence[WeightSpec] | None) -> list[dict[str, Any]]:
    return [_plain(s) for s in specs or []]


def joined_bytes(artifacts: ModelArtifacts) -> bytes:
    return b"".join(bytes(b) for b in artifacts.buffers)


def weight_ranges(specs: Sequence[WeightSpec], data: bytes) -> list[tuple[str, int, int]]:
    """(name, start, end) of each weight in ``data``; stops where the data ends."""
    out = []
    pos = 0
    for spec in specs:
        start = pos
        size = spec.byte_length
        if size is None:
            for _ in range(spec.size):
                if pos + 4 > len(data):
                    return out
                pos += 4 + int.from_bytes(data[pos : pos + 4], "little")
        else:
            pos += size
        out.append((spec.name, start, pos))
    return out


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def weight_bytes_problems(
    specs: Sequence[WeightSpec], want: bytes, got: bytes, what: str = "loaded"
) -> list[str]:
    """How ``got`` differs from ``want`` (the weight bytes laid out by ``specs``)."""
    if want == got:
        return []
    if len(got) != len(want):
        head = (
            f"the {what} weight data is {len(got)} bytes, the saved {len(want)} bytes "
            f"({len(got) - len(want):+d})"
        )
    else:
        head = f"the {what} weight data has the right length ({len(want)} bytes) but other bytes"
    first = next(
        (i for i, (a, b) in enumerate(zip(want, got, strict=False)) if a != b),
        min(len(want), len(got)),
    )
    where = ""
    for name, start, end in weight_ranges(specs, want):
        if start <= first < end or (start == end == first):
            where = f" inside weight {name!r} (its bytes {start}..{end})"
            break
    if first >= len(got):
        detail = f"; it ends at byte {len(got)}{where}"
    elif first >= len(want):
        detail = f"; {len(got) - len(want)} extra byte(s) at the end"
    else:
        detail = f"; the first difference is at byte {first}{where}"
    moved = ""
    if len(got) == len(want) and sorted(want) == sorted(got):
        moved = " (the same bytes in another order: shards or weights were reordered)"
    return [head + detail + moved]


def artifacts_problems(
    want: ModelArtifacts, got: ModelArtifacts, *, what: str = "loaded"
) -> list[str]:
    """Every way ``got`` differs from ``want``, as sentences (empty: the same model)."""
    problems: list[str] = []
    if want.model_topology != got.model_topology:
        problems.append(
            f"modelTopology differs: saved {_short(want.model_topology)}, "
            f"{what} {_short(got.model_topology)}"
        )
    want_specs, got_specs = spec_objects(want.weight_specs), spec_objects(got.weight_specs)
    if want_specs != got_specs:
        if len(want_specs) != len(got_specs):
            names_w = [s["name"] for s in want_specs]
            names_g = [s["name"] for s in got_specs]
            problems.append(
                f"the {what} model has {len(got_specs)} weight specs, the saved one "
                f"{len(want_specs)}: missing {sorted(set(names_w) - set(names_g))}, "
                f"extra {sorted(set(names_g) - set(names_w))}"
            )
        else:
            for w, g in zip(want_specs, got_specs, strict=True):
                if w != g:
                    lost = sorted(set(w) - set(g))
                    note = f" ({', '.join(lost)} lost)" if lost else ""
                    problems.append(
                        f"weight spec {w.get('name')!r} differs{note}: saved {_short(w)}, "
                        f"{what} {_short(g)}"
                    )
                    break
    want_data, got_data = joined_bytes(want), joined_bytes(got)
    problems += weight_bytes_problems(list(want.weight_specs or []), want_data, got_data, what)
    want_tc, got_tc = _plain(want.training_config), _plain(got.training_config)
    if want_tc != got_tc:
        if got_tc is None:
            problems.append(f"trainingConfig was lost: saved {_short(want_tc)}, {what} none")
        else:
            problems.append(
                f"trainingConfig differs: saved {_short(want_tc)}, {what} {_short(got_tc)}"
            )
    for attr, key in _OPTIONAL_FIELDS:
        w, g = _plain(getattr(want, attr)), _plain(getattr(got, attr))
        if w != g:
            problems.append(f"{key} differs: saved {_short(w)}, {what} {_short(g)}")
    if not problems and got.weight_specs:
        try:
            got.weights(strings="bytes")
        except Exception as exc:  # the bytes match, so this is a decoder problem
            problems.append(f"the {what} weights do not decode: {type(exc).__name__}: {exc}")
    return problems


def js_json_byte_length(value: Any) -> int:
    """UTF-8 length of JavaScript's ``JSON.stringify(value)``, for values whose numbers
    print the same in Python and JavaScript (integers; floats such as 0.5). Computed
    here, not with tfjs-store's writer, so the check does not trust the code it checks.
    """
    if value is None:
        return 0
    _check_js_numbers(value)
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


def _check_js_numbers(value: Any) -> None:
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")) or value.is_integer():
            raise ValueError(f"{value!r} prints differently in JavaScript; not usable here")
        if "e" in repr(value):
            raise ValueError(f"{value!r} prints differently in JavaScript; not usable here")
    elif isinstance(value, Mapping):
        for v in value.values():
            _check_js_numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _check_js_numbers(v)


def sha256(data: Any) -> str:
    return hashlib.sha256(data).hexdigest()
