"""The progress bar of a training run: groups and model-epochs on stderr, as they finish."""

from __future__ import annotations

import sys
import time


class Progress:
    """Groups and epochs on stderr with model-epochs/s; silent when stderr is not a terminal."""

    def __init__(self, total_groups: int, total_model_epochs: float, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.total_groups, self.total = total_groups, total_model_epochs
        self.done, self.groups_done, self.start = 0.0, 0, time.perf_counter()

    def tick(self, model_epochs: float) -> None:
        self.done += model_epochs
        self.show()

    def group_done(self) -> None:
        self.groups_done += 1
        self.show()

    def show(self) -> None:
        if not self.enabled:
            return
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        filled = int(24 * min(self.done / max(self.total, 1e-9), 1.0))
        sys.stderr.write(f"\r[{'#' * filled}{'-' * (24 - filled)}] "
                         f"groups {self.groups_done}/{self.total_groups}  "
                         f"model-epochs {self.done:,.0f}/{self.total:,.0f}  {rate:,.0f}/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
