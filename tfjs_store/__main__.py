"""``python -m tfjs_store``: the ``tfjs-store`` command."""

from __future__ import annotations

from tfjs_store.cli import main

raise SystemExit(main())
