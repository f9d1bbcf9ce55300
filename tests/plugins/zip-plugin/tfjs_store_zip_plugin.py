"""A third-party handler: ``zip://NAME`` keeps a model in ``$ZIP_PLUGIN_ROOT/NAME.zip``.

It uses only tfjs-store's public format functions, as a plugin author would.
"""

from __future__ import annotations

import os
import zipfile

from tfjs_store import ModelArtifacts, ModelNotFoundError, SaveResult
from tfjs_store.format.jsonfmt import js_stringify, model_json_object, parse_model_json
from tfjs_store.format.layout import plan_storage


class ZipHandler:
    def __init__(self, url: str, **options: object) -> None:
        self.path = os.path.join(os.environ["ZIP_PLUGIN_ROOT"], url[len("zip://"):] + ".zip")

    def save(self, artifacts: ModelArtifacts) -> SaveResult:
        plan = plan_storage(artifacts, layout="single", single_path="weights.bin")
        with zipfile.ZipFile(self.path + ".tmp", "w") as z:
            z.writestr("model.json", js_stringify(model_json_object(plan.model_json)))
            z.writestr("weights.bin", b"".join(bytes(b) for b in artifacts.buffers))
        os.replace(self.path + ".tmp", self.path)
        return SaveResult(model_artifacts_info=artifacts.info())

    def load(self) -> ModelArtifacts:
        if not os.path.exists(self.path):
            raise ModelNotFoundError(f"no model at {self.path}")
        with zipfile.ZipFile(self.path) as z:
            model_json = parse_model_json(z.read("model.json"))
            return ModelArtifacts.from_model_json(model_json, z.read("weights.bin"))
