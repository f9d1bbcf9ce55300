"""The bridge's OpenAPI 3.1 document, written by hand to say exactly what the routes do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..format.wire import (
    ARTIFACT_KEYS,
    JSON_CONTENT_TYPE,
    JSON_PART,
    WEIGHTS_CONTENT_TYPE,
    WEIGHTS_PART,
)

__all__ = ["openapi_document"]

NAME_PATTERN = r"^[A-Za-z0-9._-]{1,128}$"


def _error_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json_response(description: str, schema: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _or_null(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


_NOT_NULL: dict[str, Any] = {"not": {"type": "null"}}


def _artifact_property(key: str) -> dict[str, Any]:
    """The schema of one key of the JSON body (``format.wire.ARTIFACT_KEYS``)."""
    if key == "weightSpecs":
        return {"type": ["array", "null"], "items": {"$ref": "#/components/schemas/WeightSpec"}}
    if key == "weightData":
        return {
            "anyOf": [
                {"$ref": "#/components/schemas/Base64"},
                {"type": "array", "items": {"$ref": "#/components/schemas/Base64"}},
                {"type": "null"},
            ]
        }
    return _or_null("string" if key in ("format", "generatedBy", "convertedBy") else "object")



_NAME_PARAM = {
    "name": "name",
    "in": "path",
    "required": True,
    "description": (
        "Model name: 1-128 characters from A-Z a-z 0-9 . _ - ('.' and '..' are "
        "refused). The model is stored at ROOT_URL/NAME."
    ),
    "schema": {"type": "string", "pattern": NAME_PATTERN, "not": {"enum": [".", ".."]}},
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "status"],
        "properties": {
            "error": {"type": "string", "description": "What went wrong."},
            "status": {"type": "integer", "description": "The HTTP status, repeated."},
        },
    },
    "ModelArtifactsInfo": {
        "type": "object",
        "description": "TF.js's ModelArtifactsInfo (byte counts as TF.js computes them).",
        "required": ["dateSaved", "modelTopologyType"],
        "properties": {
            "dateSaved": {"type": "string", "format": "date-time"},
            "modelTopologyType": {"type": "string", "enum": ["JSON", "GraphDef"]},
            "modelTopologyBytes": {"type": ["integer", "null"], "minimum": 0},
            "weightSpecsBytes": {"type": ["integer", "null"], "minimum": 0},
            "weightDataBytes": {"type": ["integer", "null"], "minimum": 0},
        },
    },
    "ModelEntry": {
        "type": "object",
        "required": ["name", "modelUrl", "modelArtifactsInfo"],
        "properties": {
            "name": {"type": "string"},
            "modelUrl": {
                "type": "string",
                "description": "Path of the model's model.json on this server "
                "(give it to tf.loadLayersModel).",
            },
            "modelArtifactsInfo": {"$ref": "#/components/schemas/ModelArtifactsInfo"},
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["models"],
        "properties": {
            "models": {"type": "array", "items": {"$ref": "#/components/schemas/ModelEntry"}}
        },
    },
    "Removed": {
        "type": "object",
        "required": ["name", "modelArtifactsInfo"],
        "properties": {
            "name": {"type": "string"},
            "modelArtifactsInfo": {"$ref": "#/components/schemas/ModelArtifactsInfo"},
        },
    },
    "WeightSpec": {
        "type": "object",
        "description": "A weights-manifest entry. A quantized weight is float32 or int32 "
        "(float16 only for float32); uint8/uint16 quantization needs min and scale.",
        "required": ["name", "shape", "dtype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "dtype": {"enum": ["float32", "int32", "bool", "string", "complex64"]},
            "group": {"type": "string"},
            "quantization": {
                "type": "object",
                "required": ["dtype"],
                "properties": {
                    "dtype": {"enum": ["uint8", "uint16", "float16"]},
                    "scale": {"type": "number"},
                    "min": {"type": "number"},
                },
                "if": {"properties": {"dtype": {"enum": ["uint8", "uint16"]}}},
                "then": {"required": ["dtype", "scale", "min"]},
            },
        },
        "allOf": [
            {
                "if": {"required": ["quantization"]},
                "then": {"properties": {"dtype": {"enum": ["float32", "int32"]}}},
            },
            {
                "if": {
                    "required": ["quantization"],
                    "properties": {"quantization": {"properties": {"dtype": {"const": "float16"}}}},
                },
                "then": {"properties": {"dtype": {"const": "float32"}}},
            },
        ],
    },
    "ModelJSON": {
        "type": "object",
        "description": "A TF.js model.json. Its manifest paths are ignored on upload: the "
        "weights part holds every weight's bytes, in manifest order, and must be exactly as "
        "long as the specs say (otherwise 400). Weight names must be unique.",
        "anyOf": [
            {"required": ["modelTopology"], "properties": {"modelTopology": _NOT_NULL}},
            {
                "required": ["weightsManifest"],
                "properties": {"weightsManifest": {"type": "array"}},
            },
        ],
        "properties": {
            "modelTopology": {
                "description": "Any JSON value: TF.js treats the topology as opaque JSON "
                "(null or absent means none)."
            },
            "format": _or_null("string"),
            "generatedBy": _or_null("string"),
            "convertedBy": _or_null("string"),
            "weightsManifest": {
                "type": ["array", "null"],
                "items": {
                    "type": "object",
                    "required": ["paths", "weights"],
                    "properties": {
                        "paths": {"type": "array", "items": {"type": "string"}},
                        "weights": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/WeightSpec"},
                        },
                    },
                },
            },
            **{
                key: _or_null("object")
                for key in (
                    "trainingConfig",
                    "userDefinedMetadata",
                    "signature",
                    "modelInitializer",
                    "initializerSignature",
                )
            },
        },
    },
    "Upload": {
        "type": "object",
        "description": "The body TF.js's model.save('http://…') sends (tf.io.http): exactly "
        "the parts 'model.json' and (when the model has weights) 'model.weights.bin'. A "
        "body with other parts is read as a FileSet.",
        "required": [JSON_PART],
        "additionalProperties": False,
        "properties": {
            JSON_PART: {"$ref": "#/components/schemas/ModelJSON"},
            WEIGHTS_PART: {
                "type": "string",
                "contentMediaType": WEIGHTS_CONTENT_TYPE,
                "description": "All weight bytes, concatenated in manifest order.",
            },
        },
    },
    "FileSet": {
        "type": "object",
        "description": "A set of picked files, as tf.io.browserFiles takes them (what "
        "<input type=file name=files multiple> in a form sends): exactly one file whose name "
        "ends in '.json' (the model JSON, with modelTopology and weightsManifest) and every "
        "weight file its weightsManifest names, matched by basename (folders in paths and "
        "file names are ignored). Field names do not matter; every part must be a file "
        "(have a filename); an empty file input is ignored. Refused with 400, in TF.js's "
        "words: 'modelTopology field is missing from file <name>', 'weightManifest field is "
        "missing from file <name>', \"Duplicate file basename found in weights manifest: "
        "'<b>'\", \"Weight file with basename '<b>' is not provided.\", 'Mismatch in the "
        "number of files in weights manifest (<m>) and the number of weight files provided "
        "(<n>).'; also no or several .json files, and weight files whose sizes do not "
        "match their groups' specs.",
        "minProperties": 1,
        "additionalProperties": {
            "anyOf": [
                {"type": "string", "contentMediaType": "application/octet-stream"},
                {
                    "type": "array",
                    "items": {"type": "string", "contentMediaType": "application/octet-stream"},
                },
            ]
        },
    },
    "ArtifactsJSON": {
        "type": "object",
        "description": "A model's artifacts as one JSON object (TF.js's ModelArtifacts), the "
        "weights in base64: the shape TF.js's documentation describes for an http save. "
        "'weightSpecs' is one flat list (every group's weights, in order); 'weightData' is "
        "the base64 (standard alphabet, padded; a 'data:…;base64,' prefix is allowed) of "
        "all weight bytes in that order, or a list of base64 strings read one after the "
        "other. The weight bytes must be exactly as long as the specs say. Other keys are "
        "kept in the stored model.json; as in JSON.parse, of two equal keys the last wins. "
        "Everything but the base64 weights must fit in the model.json limit (64 MiB), and "
        "so must weightData strings written with JSON escapes ('\\/', '\\n'); the whole "
        "body must fit in the upload limit.",
        "anyOf": [
            {"required": ["modelTopology"], "properties": {"modelTopology": {"type": "object"}}},
            {"required": ["weightSpecs"], "properties": {"weightSpecs": {"type": "array"}}},
        ],
        "not": {"required": ["weightsManifest"]},
        "properties": {key: _artifact_property(key) for key in ARTIFACT_KEYS},
    },
    "Base64": {
        "type": "string",
        "contentEncoding": "base64",
        "contentMediaType": "application/octet-stream",
        "pattern": r"^(data:[^,]*;base64,)?([A-Za-z0-9+/]{4})*"
        r"([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    },
}

_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "ETags the client holds; a match is answered 304 without the body.",
    "schema": {"type": "string"},
}
_SAVE_IF_MATCH = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "Store only if the model's current version is this ETag (the ETag of "
    "its model.json), or with *, only if there is a model; otherwise 412.",
    "schema": {"type": "string"},
}
_SAVE_IF_NONE_MATCH = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "* : store only if there is no model of that name yet; otherwise 412.",
    "schema": {"type": "string", "enum": ["*"]},
}
_NOT_MODIFIED = {"description": "The client's copy (If-None-Match) is current; no body."}
_ANY_JSON = {"application/json": {"schema": {"type": "object"}}}
_BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
_STORAGE_FAILED = {"502": _error_response("The storage behind the bridge failed.")}
_BAD_NAME = {"400": _error_response("Invalid model name.")}
_NO_MODEL = {"404": _error_response("No such model.")}


def openapi_document(
    *,
    token: bool,
    public_read: bool,
    max_upload_bytes: int,
    version: str,
    redirect_weights: bool = False,
) -> dict[str, Any]:
    """The document for one app's settings (auth and redirects are described only when
    they apply)."""
    redirected = (
        {
            "307": {
                "description": "A presigned URL of the file in the bucket (Location), "
                "valid for a short time; the Range header goes along.",
                "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
            }
        }
        if redirect_weights
        else {}
    )
    write_security: list[dict[str, list[str]]] = [{"bearer": []}] if token else []
    read_security = write_security if not public_read else []
    unauthorized = {"401": _error_response("Missing or wrong bearer token.")} if token else {}
    read_unauthorized = unauthorized if not public_read else {}

    misdirected = {
        "421": _error_response(
            "The Host header names a host the bridge does not answer to (DNS rebinding "
            "guard): only localhost, loopback addresses, the address the connection "
            "arrived on and the --allowed-host names."
        )
    }
    cross_site = {
        "403": _error_response(
            "The request carries an Origin that is neither the bridge's own nor one of "
            "its CORS origins: a write from another site's page. Nothing is stored or "
            "removed."
        )
    }

    def op(
        security: list[dict[str, list[str]]],
        operation_id: str,
        summary: str,
        *responses: Mapping[str, Any],
        **fields: Any,
    ) -> dict[str, Any]:
        """One operation; its responses merged in order, then the Host guard's."""
        merged = {k: v for part in (*responses, misdirected) for k, v in part.items()}
        return {
            "operationId": operation_id,
            "summary": summary,
            **fields,
            "responses": merged,
            "security": security,
        }

    upload_responses = {
        "200": _json_response("Stored. TF.js's save() resolves.", "ModelEntry"),
        "400": _error_response(
            "Invalid name, a malformed body (multipart or JSON), a set of files that does "
            "not fit its model JSON, base64 that is not base64, or a model / weight data "
            "that is not a valid TF.js model. Nothing is stored."
        ),
        **unauthorized,
        **cross_site,
        "413": _error_response(f"Body larger than the limit ({max_upload_bytes} bytes)."),
        "415": _error_response("Content-Type is neither multipart/form-data nor application/json."),
        "412": _error_response(
            "If-Match or If-None-Match did not hold: another save came first. Nothing is "
            "stored; read the model again (its new ETag) and retry."
        ),
        "501": _error_response(
            "If-Match or If-None-Match was sent, but the storage (or the bridge's "
            "--upload-form single) cannot check it in the same step as the write. Nothing is "
            "stored."
        ),
        **_STORAGE_FAILED,
    }
    upload_body = {
        "required": True,
        "description": "One of three shapes: TF.js's multipart upload (Upload), a set of "
        "picked files as multipart (FileSet), or the artifacts as JSON with base64 weights "
        "(ArtifactsJSON). All are stored the same way, atomically; a refused upload "
        "changes nothing.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "anyOf": [
                        {"$ref": "#/components/schemas/Upload"},
                        {"$ref": "#/components/schemas/FileSet"},
                    ]
                },
                "encoding": {
                    JSON_PART: {"contentType": JSON_CONTENT_TYPE},
                    WEIGHTS_PART: {"contentType": WEIGHTS_CONTENT_TYPE},
                },
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/ArtifactsJSON"}},
        },
    }

    def uploads(operation_id: str, post: str, put: str) -> dict[str, Any]:
        """POST and PUT of an upload (TF.js sends either, by ``requestInit.method``)."""
        return {
            method: op(
                write_security, operation_id + suffix, summary, upload_responses,
                requestBody=upload_body, parameters=[_SAVE_IF_MATCH, _SAVE_IF_NONE_MATCH],
            )
            for method, suffix, summary in [("post", "", post), ("put", "Put", put)]
        }

    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "tfjs-store bridge",
            "version": version,
            "description": (
                "Receives TensorFlow.js models saved with model.save('http://HOST/models/NAME') "
                "(or sent as a set of files, or as JSON with base64 weights) "
                "and stores them in a bucket or folder; serves them back to "
                "tf.loadLayersModel('http://HOST/models/NAME/model.json')."
            ),
        },
        "paths": {
            "/models": {
                "get": op(
                    read_security, "listModels", "List stored models",
                    {"200": _json_response("Every model under the root.", "ModelList")},
                    read_unauthorized, _STORAGE_FAILED,
                )
            },
            "/models/{name}": {
                "parameters": [_NAME_PARAM],
                **uploads(
                    "uploadModel",
                    "Store a model sent by TF.js's model.save(url)",
                    "Store a model (requestInit: {method: 'PUT'})",
                ),
                "get": op(
                    read_security, "modelInfo", "A model's ModelArtifactsInfo",
                    {"200": _json_response("The model's info.", "ModelEntry")},
                    _BAD_NAME, read_unauthorized, _NO_MODEL, _STORAGE_FAILED,
                ),
                "delete": op(
                    write_security, "removeModel",
                    "Remove a model (model.json first, then its weight files)",
                    {"200": _json_response("Removed; the info it had.", "Removed")},
                    _BAD_NAME, unauthorized, cross_site, _NO_MODEL, _STORAGE_FAILED,
                ),
            },
            "/models/{name}/model.json": {
                "parameters": [_NAME_PARAM],
                **uploads(
                    "uploadModelJson",
                    "Store a model (the same as POST /models/{name})",
                    "Store a model (the same as PUT /models/{name})",
                ),
                "get": op(
                    read_security, "getModelJson", "The stored model.json (for tf.loadLayersModel)",
                    {
                        "200": {
                            "description": "The model JSON as stored (ETag: the model's "
                            "version, for If-Match on a save; Cache-Control: no-cache).",
                            "content": _ANY_JSON,
                        },
                        "304": _NOT_MODIFIED,
                    },
                    _BAD_NAME, read_unauthorized, _NO_MODEL, _STORAGE_FAILED,
                    parameters=[_IF_NONE_MATCH],
                ),
            },
            "/models/{name}/{weightPath}": {
                "parameters": [
                    _NAME_PARAM,
                    {
                        "name": "weightPath",
                        "in": "path",
                        "required": True,
                        "description": "A weight file named in the model's weightsManifest "
                        "(relative to the model; may contain '/'). Other files are not served.",
                        "schema": {"type": "string"},
                    },
                ],
                "get": op(
                    read_security, "getWeightFile",
                    "A weight file named in the model's manifest (Range supported)",
                    {
                        "200": {
                            "description": "The file's bytes (a file whose name carries its "
                            "save's tag is Cache-Control: immutable).",
                            "content": _BINARY,
                        },
                        "206": {"description": "The requested byte range.", "content": _BINARY},
                        **redirected,
                        "400": _error_response("Invalid path."),
                        **read_unauthorized,
                        "404": _error_response(
                            "No such model, or the file is not in its manifest."
                        ),
                        "304": _NOT_MODIFIED,
                        "416": {"description": "The range is outside the file."},
                        **_STORAGE_FAILED,
                    },
                    parameters=[
                        {
                            "name": "Range",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": r"^bytes=\d*-\d*$"},
                        },
                        _IF_NONE_MATCH,
                    ],
                ),
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The OpenAPI document.",
                            "content": _ANY_JSON,
                        },
                        **misdirected,
                    },
                }
            },
        },
        "components": {"schemas": _SCHEMAS},
    }
    if token:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    return doc
