"""The conformance suite as a pytest plugin (entry point ``pytest11``).

- ``--conformance-large`` runs the large tier (a model over 1 GiB).
- ``--conformance-report PATH`` writes every check's outcome as JSON.
- ``known_failures`` of a test class become ``xfail`` marks with their reasons.
- At the end, a summary table per target: each check, passed / failed / skipped
  (with the reason) / known failure.

Only pytest hooks live here and nothing heavy is imported: every pytest run in an
environment where tfjs-store is installed loads this module.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

import pytest

_MARK = "_tfjs_store_conformance"
_PROP = "tfjs_store_conformance"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tfjs-store conformance")
    group.addoption(
        "--conformance-large",
        action="store_true",
        default=False,
        help="also run the large tier of the tfjs-store conformance suite (a model over 1 GiB)",
    )
    group.addoption(
        "--conformance-report",
        metavar="PATH",
        default=None,
        help="write the outcome of every tfjs-store conformance check to PATH as JSON",
    )


def _is_check(item: pytest.Item) -> bool:
    cls = getattr(item, "cls", None)
    return cls is not None and bool(getattr(cls, _MARK, False))


def _title(cls: type) -> str:
    return str(getattr(cls, "conformance_title", None) or cls.__name__)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if not _is_check(item):
            continue
        cls = item.cls  # type: ignore[attr-defined]
        name = getattr(item, "originalname", item.name)
        known = dict(getattr(cls, "known_failures", {}) or {})
        reason = known.get(item.name) or known.get(name)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=f"known failure: {reason}", strict=False))
        param = item.name[len(name) :].strip("[]")
        item.user_properties.append((_PROP, {"target": _title(cls), "check": name, "case": param}))


class _Summary:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.rows: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        props = dict(report.user_properties).get(_PROP)
        if props is None:
            return
        if (
            report.when == "call"
            or (report.when == "setup" and not report.passed)
            or (report.when == "teardown" and report.failed)
        ):
            outcome, note = _outcome(report)
            row = self.rows.setdefault(report.nodeid, {**props, "nodeid": report.nodeid})
            if row.get("outcome") in (None, "passed") or outcome == "failed":
                row["outcome"] = outcome
                row["note"] = note

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.rows:
            return
        path = self.config.getoption("conformance_report", None)
        if path:
            with open(path, "w", encoding="utf-8") as f:
                json.dump(list(self.rows.values()), f, indent=1, ensure_ascii=False)
        for line in summary_lines(list(self.rows.values())):
            terminalreporter.write_line(line)


def _outcome(report: pytest.TestReport) -> tuple[str, str]:
    if hasattr(report, "wasxfail"):
        if report.skipped:
            return "known-failure", str(report.wasxfail).removeprefix("known failure: ")
        return "unexpected-pass", str(report.wasxfail).removeprefix("known failure: ")
    if report.passed:
        return "passed", ""
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return "skipped", reason.removeprefix("Skipped: ")
    crash = getattr(report.longrepr, "reprcrash", None)
    message = crash.message if crash is not None else str(report.longrepr)
    for prefix in ("Failed: ", f"{__package__}.suite.ConformanceFailure: ", "ConformanceFailure: "):
        message = message.removeprefix(prefix)
    if report.when != "call":
        message = f"({report.when}) {message}"
    return "failed", message


_SYMBOL = {
    "passed": "PASS",
    "failed": "FAIL",
    "skipped": "SKIP",
    "known-failure": "KNOWN",
    "unexpected-pass": "XPASS",
}


def summary_lines(rows: list[dict[str, Any]]) -> list[str]:
    """The summary table: one line per check (cases folded together) per target."""
    targets: OrderedDict[str, OrderedDict[str, list[dict[str, Any]]]] = OrderedDict()
    for row in rows:
        targets.setdefault(row["target"], OrderedDict()).setdefault(row["check"], []).append(row)
    lines: list[str] = []
    for target, checks in targets.items():
        counts: dict[str, int] = {}
        lines.append("")
        lines.append(f"tfjs-store conformance: {target}")
        lines.append("-" * 100)
        for check, cases in checks.items():
            outcomes = [c["outcome"] for c in cases]
            for o in outcomes:
                counts[o] = counts.get(o, 0) + 1
            if "failed" in outcomes:
                result = "failed"
            elif "unexpected-pass" in outcomes:
                result = "unexpected-pass"
            elif "known-failure" in outcomes:
                result = "known-failure"
            elif all(o == "skipped" for o in outcomes):
                result = "skipped"
            else:
                result = "passed"
            label = check.removeprefix("test_")
            n = len(cases)
            tally = f" ({outcomes.count('passed')}/{n})" if n > 1 else ""
            note = ""
            if result == "failed":
                bad = [c for c in cases if c["outcome"] == "failed"]
                which = ", ".join(c["case"] for c in bad if c["case"])
                note = (f"[{which}] " if which and n > 1 else "") + (bad[0].get("note") or "")
            elif result in ("skipped", "known-failure", "unexpected-pass"):
                first = next(c for c in cases if c["outcome"] == result)
                note = first.get("note") or ""
                if result == "unexpected-pass":
                    note = "passed although declared a known failure: " + note
            if len(note) > 240:  # the whole message is in pytest's FAILURES section
                note = note[:237] + "..."
            head = f"{_SYMBOL[result]:<6}{label}{tally}"
            lines.append(f"{head:<48} {note}".rstrip())
        total = sum(counts.values())
        parts = [f"{counts.get(k, 0)} {k.replace('-', ' ')}" for k in _SYMBOL if counts.get(k)]
        lines.append("-" * 100)
        lines.append(f"{target}: {total} checks: " + ", ".join(parts))
    return lines


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(_Summary(config), "tfjs-store-conformance-summary")
