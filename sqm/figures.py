"""PNG figures of runs, after the paper's panels. Matplotlib, no screen needed."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .analysis.bias_loop import BiasLoopSummary  # noqa: E402
from .analysis.loops import remove_linear, split_branches  # noqa: E402

# The paper's colours for Fig. 3a: virgin black, down magenta, up green.
BRANCH_STYLE = [("virgin 0 \u2192 +I", "black"), ("down", "magenta"), ("up", "green")]
UA, MPHI0 = 1e-6, 1e-3


def _plot_branches(axes, current, flux, branch) -> None:
    for index, (x, y) in enumerate(split_branches(current, flux, branch)):
        label, colour = BRANCH_STYLE[index] if index < len(BRANCH_STYLE) else (f"branch {index}", None)
        axes.plot(x / UA, y / MPHI0, ".-", ms=2.5, lw=0.8, color=colour, label=label)
    axes.plot([0], [0], "o", mfc="none", mec="gold", ms=9, mew=2, label="virgin state")
    axes.axhline(0, color="0.7", lw=0.6)
    axes.axvline(0, color="0.7", lw=0.6)
    axes.set_xlabel("bias current I$_b$ (\u00b5A)")
    axes.legend(loc="upper left", fontsize=8)


def bias_loop_figure(current, flux, branch, summary: BiasLoopSummary, path: Path) -> Path:
    """Fig. 3a: flux at the park point versus bias current, branches coloured."""
    figure, axes = plt.subplots(figsize=(5.2, 4.0), dpi=150)
    _plot_branches(axes, current, flux, branch)
    axes.set_ylabel("\u03a6$_d$ (m\u03a6$_0$)")
    axes.set_title("Bias-current hysteresis at the park point (Fig. 3a)", fontsize=10)
    text = (
        f"virgin minimum {summary.virgin_minimum / UA:.1f} \u00b5A\n"
        f"zero crossing {summary.virgin_zero_crossing / UA:.1f} \u00b5A\n"
        f"switching {summary.switching_current / UA:.1f} \u00b5A\n"
        f"remanence {summary.remanence / MPHI0:+.3f} m\u03a6$_0$"
    )
    axes.text(0.98, 0.03, text, transform=axes.transAxes, ha="right", va="bottom", fontsize=8)
    return _save(figure, path)


def induced_loop_figure(current, flux, branch, summary: BiasLoopSummary, path: Path) -> Path:
    """Fig. 3b: the loop with the linear (Oersted) part of the virgin branch removed."""
    induced = remove_linear(current, flux, summary.oersted_slope)
    figure, axes = plt.subplots(figsize=(5.2, 4.0), dpi=150)
    _plot_branches(axes, np.asarray(current), induced, branch)
    axes.set_ylabel("\u03a6$_d$ \u2212 k I$_b$ (m\u03a6$_0$)")
    axes.set_title(
        f"Induced flux, Oersted slope {summary.oersted_slope:.2f} \u00b5\u03a6$_0$/\u00b5A removed (Fig. 3b)",
        fontsize=9,
    )
    return _save(figure, path)


def _save(figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
