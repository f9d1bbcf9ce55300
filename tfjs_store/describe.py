"""A model described from its model.json alone: what ``tfjs-store info`` shows.

``describe_model(url)`` reads model.json (no weight byte) and gives a JSON-ready dict:
format and producer, the topology's kind, layers, inputs and outputs, the training
configuration, every weight (shape, dtype, group, quantization, bytes), the weight
files with their recorded sizes and checksums, and totals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from .checks import ModelInspection, inspect_model

__all__ = ["describe", "describe_model", "describe_topology"]


def describe_model(
    url: str, *, storage_options: Mapping[str, Any] | None = None, **handler_options: Any
) -> dict[str, Any]:
    """Describe the model at ``url`` from its model.json (see the module doc).

    Other keyword arguments go to the handler (``request_init`` for http(s)); a handler
    that cannot read model.json alone (http) loads the model to describe it.
    """
    return describe(inspect_model(url, storage_options=storage_options, **handler_options))


_TF_DTYPES = {
    "DT_FLOAT": "float32",
    "DT_HALF": "float16",
    "DT_DOUBLE": "float64",
    "DT_INT32": "int32",
    "DT_INT64": "int64",
    "DT_BOOL": "bool",
    "DT_STRING": "string",
    "DT_COMPLEX64": "complex64",
    "DT_UINT8": "uint8",
}


def describe(inspection: ModelInspection) -> dict[str, Any]:
    """The description of an inspected model (``inspect_model``'s result)."""
    model_json = inspection.model_json
    topology = model_json.model_topology
    files = list(inspection.files)
    weights: list[dict[str, Any]] = []
    for spec in model_json.weight_specs:
        q = spec.quantization
        weights.append(
            {
                "name": spec.name,
                "shape": list(spec.shape),
                "dtype": spec.dtype,
                "group": spec.group,
                "quantization": q.to_json_obj() if q is not None else None,
                "bytes": spec.byte_length,
            }
        )
    sizes = [f.size for f in files]
    file_bytes = (
        sum(s for s in sizes if s is not None) if all(s is not None for s in sizes) else None
    )
    spec_bytes = [spec.byte_length for spec in model_json.weight_specs]
    weight_bytes = file_bytes
    if weight_bytes is None and all(b is not None for b in spec_bytes):
        weight_bytes = sum(b for b in spec_bytes if b is not None)
    training = model_json.training_config
    return {
        "url": inspection.url,
        "format": model_json.format or _guess_format(topology),
        "generatedBy": model_json.generated_by,
        "convertedBy": model_json.converted_by,
        "topology": describe_topology(topology, model_json.signature),
        "training": _training(training) if training is not None else None,
        "weights": weights,
        "totals": {
            "weights": len(weights),
            "optimizerWeights": sum(1 for w in weights if w["group"] == "optimizer"),
            "parameters": sum(s.size for s in model_json.weight_specs),
            "weightBytes": weight_bytes,
            "groups": len(model_json.weights_manifest or []),
            "files": len(files),
        },
        "files": [
            {
                "group": f.group,
                "path": f.path,
                "bytes": f.size,
                "sha256": f.sha256,
                "crc32c": f.crc32c,
                "missing": f.missing,
            }
            for f in files
        ],
        "checksums": inspection.checksums_recorded,
    }


def _guess_format(topology: Any) -> str | None:
    if isinstance(topology, Mapping):
        if "node" in topology:
            return "graph-model"
        if "class_name" in topology or "model_config" in topology:
            return "layers-model"
    return None


def _training(training: Any) -> dict[str, Any]:
    optimizer = training.optimizer_config or {}
    return {
        "loss": training.loss,
        "metrics": training.metrics,
        "optimizer": optimizer.get("class_name") if isinstance(optimizer, Mapping) else None,
    }


def describe_topology(topology: Any, signature: Any = None) -> dict[str, Any] | None:
    """Kind, layer count and kinds, inputs and outputs, as far as the topology says."""
    if not isinstance(topology, Mapping):
        return _signature_only(signature)
    if "node" in topology:  # a graph model's GraphDef
        nodes = [n for n in topology.get("node") or [] if isinstance(n, Mapping)]
        ops = Counter(str(n.get("op")) for n in nodes)
        out: dict[str, Any] = {
            "className": "GraphDef",
            "name": None,
            "layerCount": len(nodes),
            "layerKinds": dict(ops.most_common()),
            "inputs": [],
            "outputs": [],
        }
        out.update(_signature_io(signature))
        return out
    model = topology.get("model_config", topology)
    if not isinstance(model, Mapping):
        return None
    class_name = model.get("class_name")
    config = model.get("config")
    if isinstance(config, list):  # very old Keras: a Sequential's config is its layer list
        layers, config = config, {}
    elif isinstance(config, Mapping):
        layers = config.get("layers") or []
    else:
        layers, config = [], {}
    layers = [layer for layer in layers if isinstance(layer, Mapping)]
    kinds: Counter[str] = Counter(str(layer.get("class_name")) for layer in layers)
    inputs, outputs = _layers_io(class_name, config, layers)
    out = {
        "className": class_name,
        "name": config.get("name"),
        "layerCount": len(layers),
        "layerKinds": dict(kinds),
        "inputs": inputs,
        "outputs": outputs,
    }
    if signature:
        out.update({k: v for k, v in _signature_io(signature).items() if v})
    return out


def _layer_name(layer: Mapping[str, Any]) -> str | None:
    name = layer.get("name")
    if name is None and isinstance(layer.get("config"), Mapping):
        name = layer["config"].get("name")
    return str(name) if name is not None else None


def _input_of(layer: Mapping[str, Any]) -> dict[str, Any]:
    config = layer.get("config") if isinstance(layer.get("config"), Mapping) else {}
    assert isinstance(config, Mapping)
    shape = None
    for key in ("batch_input_shape", "batchInputShape", "batch_shape", "batchShape"):
        if isinstance(config.get(key), list):
            shape = list(config[key])
            break
    if shape is None and isinstance(config.get("input_shape"), list):
        shape = [None, *config["input_shape"]]
    return {"name": _layer_name(layer), "shape": shape, "dtype": config.get("dtype")}


def _layers_io(
    class_name: Any, config: Mapping[str, Any], layers: Sequence[Mapping[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    by_name = {_layer_name(layer): layer for layer in layers}
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    input_refs = config.get("input_layers")
    output_refs = config.get("output_layers")
    if isinstance(input_refs, list):  # functional
        for ref in input_refs:
            name = ref[0] if isinstance(ref, list) and ref else ref
            layer = by_name.get(str(name))
            inputs.append(
                _input_of(layer) if layer else {"name": str(name), "shape": None, "dtype": None}
            )
        for ref in output_refs if isinstance(output_refs, list) else []:
            name = ref[0] if isinstance(ref, list) and ref else ref
            outputs.append({"name": str(name), "shape": None, "dtype": None})
    elif layers:  # sequential
        first = _input_of(layers[0])
        if first["shape"] is not None or layers[0].get("class_name") == "InputLayer":
            inputs.append(first)
        outputs.append({"name": _layer_name(layers[-1]), "shape": None, "dtype": None})
    return inputs, outputs


def _signature_io(signature: Any) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"inputs": [], "outputs": []}
    if not isinstance(signature, Mapping):
        return out
    for side in ("inputs", "outputs"):
        entries = signature.get(side)
        if not isinstance(entries, Mapping):
            continue
        for key, entry in entries.items():
            if not isinstance(entry, Mapping):
                continue
            shape = None
            tensor_shape = entry.get("tensorShape")
            if isinstance(tensor_shape, Mapping) and not tensor_shape.get("unknownRank"):
                dims = tensor_shape.get("dim") or []
                shape = []
                for dim in dims:
                    size = dim.get("size") if isinstance(dim, Mapping) else None
                    try:
                        value = int(size) if size is not None else None
                    except (TypeError, ValueError):
                        value = None
                    shape.append(None if value is None or value < 0 else value)
            dtype = entry.get("dtype")
            out[side].append(
                {
                    "name": entry.get("name") or key,
                    "shape": shape,
                    "dtype": _TF_DTYPES.get(str(dtype), dtype),
                }
            )
    return out


def _signature_only(signature: Any) -> dict[str, Any] | None:
    io = _signature_io(signature)
    if not io["inputs"] and not io["outputs"]:
        return None
    return {"className": None, "name": None, "layerCount": None, "layerKinds": {}, **io}


# -- text ----------------------------------------------------------------------------
