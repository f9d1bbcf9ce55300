"""The tfjs-store conformance suite (see conformance/README.md)."""
