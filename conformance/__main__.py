"""``python -m tfjs_store.conformance TARGET``: the same as ``tfjs-store conformance TARGET``."""

from .runner import main

raise SystemExit(main())
