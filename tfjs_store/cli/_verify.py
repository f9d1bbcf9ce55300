"""``tfjs-store verify URL``: is the stored model intact? Every problem, not just the first."""

from __future__ import annotations

import argparse

from . import EXIT_FAILED, EXIT_OK
from ._common import model_to_read, print_json


def run(args: argparse.Namespace) -> int:
    from ..checks import verify

    url, options = model_to_read(args)
    report = verify(url, remote=args.remote, **options)
    if args.json:
        print_json(report.to_json_obj())
        return EXIT_OK if report.ok else EXIT_FAILED

    checked = (
        f"{report.files_checked} file{'' if report.files_checked == 1 else 's'} read, "
        f"{report.checksums_checked} checksum{'' if report.checksums_checked == 1 else 's'} "
        f"compared, {report.weights_decoded} weight{'' if report.weights_decoded == 1 else 's'}"
        " decoded"
    )
    if report.remote:
        checked += f", {len(report.proven_remotely)} proven by the store's own checksums"
    for warning in report.warnings:
        print(f"warning: {' '.join(warning.split())}")
    if report.ok:
        print(f"OK  {report.url}  ({checked})")
        return EXIT_OK
    count = len(report.problems)
    print(f"FAILED  {report.url}: {count} problem{'' if count == 1 else 's'} ({checked})")
    for problem in report.problems:
        print(f"  {problem.kind}: {' '.join(problem.message.split())}")
    return EXIT_FAILED
