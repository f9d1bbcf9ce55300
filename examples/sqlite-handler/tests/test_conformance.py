"""tfjs-store's conformance suite, run against SQLiteHandler with pytest."""

import pytest
from tfjs_store_sqlite.conformance import SQLiteHandlerTests

from tfjs_store.conformance import Location


class TestSQLiteHandler(SQLiteHandlerTests):
    @pytest.fixture
    def container(self, tmp_path):
        """A fresh, empty place for models: a new database file for each check."""
        return Location(f"sqlite://{tmp_path}/models.db?model=models")
