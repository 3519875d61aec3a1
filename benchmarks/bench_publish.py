"""What gets published (issue 11): the size of `vanishing render --publish`'s directory.

    python benchmarks/bench_publish.py RESULTS_DIR [OUT_DIR]

Renders RESULTS_DIR as published (the metrics only gzipped), prints the directory's size, the
metrics' plain and gzipped sizes and how long gzip takes at levels 6 and 9, and exits 1 when the
directory is over the budget (50 MB: what a GitHub Pages site and a casual download bear).
``nox -s bench`` measures it on the `full` preset, the one the workflow publishes.
"""

from __future__ import annotations

import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

BUDGET_BYTES = 50_000_000


def measure(results_dir: Path, out_dir: Path | None = None) -> dict[str, float]:
    from vanishing import deflate
    from vanishing.html import render_report

    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="vanishing-publish-"))
    start = time.perf_counter()
    render_report(Path(results_dir), out, publish=True)
    render = time.perf_counter() - start
    data = (Path(results_dir) / "metrics.csv").read_bytes()
    numbers: dict[str, float] = {
        "published_bytes": sum(p.stat().st_size for p in out.iterdir() if p.is_file()),
        "page_bytes": (out / "index.html").stat().st_size,
        "files": len(list(out.iterdir())),
        "render_seconds": round(render, 2),
        "metrics_csv_bytes": len(data),
        "gzip_level": deflate.TABLE_LEVEL,
        "gzip_library": deflate.LIBRARY,
    }
    for level in (6, 9):  # zlib's, for comparison
        start = time.perf_counter()
        size = len(gzip.compress(data, compresslevel=level, mtime=0))
        numbers[f"gzip{level}_bytes"] = size
        numbers[f"gzip{level}_seconds"] = round(time.perf_counter() - start, 2)
    return numbers


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__)
        return 2
    numbers = measure(Path(argv[0]), Path(argv[1]) if len(argv) > 1 else None)
    over = numbers["published_bytes"] >= BUDGET_BYTES
    print(json.dumps({**numbers, "budget_bytes": BUDGET_BYTES, "over_budget": over}, indent=1))
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
