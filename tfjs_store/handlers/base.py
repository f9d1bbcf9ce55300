"""The protocols every handler follows, as in TF.js's ``IOHandler`` and ``ModelStoreManager``."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..format.artifacts import ModelArtifacts
from ..format.schemas import ModelArtifactsInfo, SaveResult

__all__ = ["IOHandler", "LoadHandler", "ModelStore", "SaveHandler"]


@runtime_checkable
class SaveHandler(Protocol):
    """Anything with ``save(artifacts) -> SaveResult``."""

    def save(self, artifacts: ModelArtifacts) -> SaveResult: ...


@runtime_checkable
class LoadHandler(Protocol):
    """Anything with ``load() -> ModelArtifacts``."""

    def load(self) -> ModelArtifacts: ...


@runtime_checkable
class IOHandler(SaveHandler, LoadHandler, Protocol):
    """TF.js's ``IOHandler``: an object that can save and/or load one model.

    Any object with these methods can be passed to ``save``/``load`` where a URL goes.
    A handler for one direction only (``LoadHandler``/``SaveHandler``) works too.
    """


@runtime_checkable
class ModelStore(Protocol):
    """Model management for a location: what TF.js's ``ModelStoreManager`` does."""

    def list_models(self) -> dict[str, ModelArtifactsInfo]: ...

    def remove_model(self) -> ModelArtifactsInfo: ...
