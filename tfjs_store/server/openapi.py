"""The bridge's OpenAPI 3.1 document, written by hand to say exactly what the routes do."""

from __future__ import annotations

from typing import Any

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
            {"required": ["modelTopology"], "properties": {"modelTopology": {"type": "object"}}},
            {
                "required": ["weightsManifest"],
                "properties": {"weightsManifest": {"type": "array"}},
            },
        ],
        "properties": {
            "modelTopology": {"type": ["object", "null"]},
            "format": {"type": ["string", "null"]},
            "generatedBy": {"type": ["string", "null"]},
            "convertedBy": {"type": ["string", "null"]},
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
            "trainingConfig": {"type": ["object", "null"]},
            "userDefinedMetadata": {"type": ["object", "null"]},
            "signature": {"type": ["object", "null"]},
            "modelInitializer": {"type": ["object", "null"]},
            "initializerSignature": {"type": ["object", "null"]},
        },
    },
    "Upload": {
        "type": "object",
        "description": "The body TF.js's model.save('http://…') sends (tf.io.http): exactly "
        "the parts 'model.json' and (when the model has weights) 'model.weights.bin'. A "
        "body with other parts is read as a FileSet.",
        "required": ["model.json"],
        "additionalProperties": False,
        "properties": {
            "model.json": {"$ref": "#/components/schemas/ModelJSON"},
            "model.weights.bin": {
                "type": "string",
                "contentMediaType": "application/octet-stream",
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
        "properties": {
            "modelTopology": {"type": ["object", "null"]},
            "trainingConfig": {"type": ["object", "null"]},
            "weightSpecs": {
                "type": ["array", "null"],
                "items": {"$ref": "#/components/schemas/WeightSpec"},
            },
            "weightData": {
                "anyOf": [
                    {"$ref": "#/components/schemas/Base64"},
                    {"type": "array", "items": {"$ref": "#/components/schemas/Base64"}},
                    {"type": "null"},
                ]
            },
            "format": {"type": ["string", "null"]},
            "generatedBy": {"type": ["string", "null"]},
            "convertedBy": {"type": ["string", "null"]},
            "signature": {"type": ["object", "null"]},
            "userDefinedMetadata": {"type": ["object", "null"]},
            "modelInitializer": {"type": ["object", "null"]},
            "initializerSignature": {"type": ["object", "null"]},
        },
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
_NOT_MODIFIED = {"description": "The client's copy (If-None-Match) is current; no body."}


def openapi_document(
    *, token: bool, public_read: bool, max_upload_bytes: int, version: str
) -> dict[str, Any]:
    """The document for one app's settings (auth is described only when it applies)."""
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

    def op(security: list[dict[str, list[str]]], **fields: Any) -> dict[str, Any]:
        out = dict(fields)
        out["security"] = security
        out["responses"] = {**out["responses"], **misdirected}
        return out

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
        "502": _error_response("The storage behind the bridge failed."),
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
                    "model.json": {"contentType": "application/json"},
                    "model.weights.bin": {"contentType": "application/octet-stream"},
                },
            },
            "application/json": {"schema": {"$ref": "#/components/schemas/ArtifactsJSON"}},
        },
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
                    read_security,
                    operationId="listModels",
                    summary="List stored models",
                    responses={
                        "200": _json_response("Every model under the root.", "ModelList"),
                        **read_unauthorized,
                        "502": _error_response("The storage behind the bridge failed."),
                    },
                )
            },
            "/models/{name}": {
                "parameters": [_NAME_PARAM],
                "post": op(
                    write_security,
                    operationId="uploadModel",
                    summary="Store a model sent by TF.js's model.save(url)",
                    requestBody=upload_body,
                    responses=upload_responses,
                ),
                "put": op(
                    write_security,
                    operationId="uploadModelPut",
                    summary="Store a model (requestInit: {method: 'PUT'})",
                    requestBody=upload_body,
                    responses=upload_responses,
                ),
                "get": op(
                    read_security,
                    operationId="modelInfo",
                    summary="A model's ModelArtifactsInfo",
                    responses={
                        "200": _json_response("The model's info.", "ModelEntry"),
                        "400": _error_response("Invalid model name."),
                        **read_unauthorized,
                        "404": _error_response("No such model."),
                        "502": _error_response("The storage behind the bridge failed."),
                    },
                ),
                "delete": op(
                    write_security,
                    operationId="removeModel",
                    summary="Remove a model (model.json first, then its weight files)",
                    responses={
                        "200": _json_response("Removed; the info it had.", "Removed"),
                        "400": _error_response("Invalid model name."),
                        **unauthorized,
                        **cross_site,
                        "404": _error_response("No such model."),
                        "502": _error_response("The storage behind the bridge failed."),
                    },
                ),
            },
            "/models/{name}/model.json": {
                "parameters": [_NAME_PARAM],
                "post": op(
                    write_security,
                    operationId="uploadModelJson",
                    summary="Store a model (the same as POST /models/{name})",
                    requestBody=upload_body,
                    responses=upload_responses,
                ),
                "put": op(
                    write_security,
                    operationId="uploadModelJsonPut",
                    summary="Store a model (the same as PUT /models/{name})",
                    requestBody=upload_body,
                    responses=upload_responses,
                ),
                "get": op(
                    read_security,
                    operationId="getModelJson",
                    summary="The stored model.json (for tf.loadLayersModel)",
                    parameters=[_IF_NONE_MATCH],
                    responses={
                        "200": {
                            "description": "The model JSON as stored (ETag: a hash of its "
                            "bytes; Cache-Control: no-cache).",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        },
                        "304": _NOT_MODIFIED,
                        "400": _error_response("Invalid model name."),
                        **read_unauthorized,
                        "404": _error_response("No such model."),
                        "502": _error_response("The storage behind the bridge failed."),
                    },
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
                    read_security,
                    operationId="getWeightFile",
                    summary="A weight file named in the model's manifest (Range supported)",
                    parameters=[
                        {
                            "name": "Range",
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "pattern": r"^bytes=\d*-\d*$"},
                        },
                        _IF_NONE_MATCH,
                    ],
                    responses={
                        "200": {
                            "description": "The file's bytes (a file whose name carries its "
                            "save's tag is Cache-Control: immutable).",
                            "content": {
                                "application/octet-stream": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        "206": {
                            "description": "The requested byte range.",
                            "content": {
                                "application/octet-stream": {
                                    "schema": {"type": "string", "format": "binary"}
                                }
                            },
                        },
                        "400": _error_response("Invalid path."),
                        **read_unauthorized,
                        "404": _error_response(
                            "No such model, or the file is not in its manifest."
                        ),
                        "304": _NOT_MODIFIED,
                        "416": {"description": "The range is outside the file."},
                        "502": _error_response("The storage behind the bridge failed."),
                    },
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
                            "content": {"application/json": {"schema": {"type": "object"}}},
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
