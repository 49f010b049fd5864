"""Progress on the command line: one tqdm bar per step, fed by runner events."""

from __future__ import annotations

import sys

from tqdm import tqdm


class ProgressBars:
    """An event sink for the runner that draws a bar per step (only on a terminal)."""

    def __init__(self, enabled: bool | None = None) -> None:
        # None: draw only when stderr is a terminal (CI logs stay clean).
        self._disable = (not sys.stderr.isatty()) if enabled is None else not enabled
        self._bar: tqdm | None = None

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind == "step_started":
            self._close()
            total = event["expected_points"] or None
            self._bar = tqdm(
                total=total,
                desc=f"{event['step']:>2} {event['procedure']}",
                unit="pt",
                disable=self._disable,
                leave=True,
                dynamic_ncols=True,
            )
        elif kind in ("point", "line") and self._bar is not None:
            self._bar.update(1)
        elif kind in ("step_finished", "finished"):
            self._close()
        elif kind == "interlock":
            # said even without a bar: a paused command-line run waits for the operator
            tqdm.write(f"sqm: interlock at step {event['step']}: {event['reason']}", file=sys.stderr)
        elif kind == "paused":
            tqdm.write("sqm: run paused (bias and field held); Ctrl-C aborts it and makes the station safe",
                       file=sys.stderr)

    def _close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
