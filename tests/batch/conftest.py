"""What the batch tests share: a short bias loop at the park point and the key they vary."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# The paper's loop (fig3_bias_loop.yaml) in 5 uA steps of 2 s: 201 points, 0.4 s a run
LOOP = """
steps:
  - zero_field_cool: {from_temperature: 8 K, to_temperature: 1.5 K}
  - park: {x: 30 um, y: -15 um, height: 1 um}
  - bias_sweep: {points: [0, 200 uA, -200 uA, 200 uA], step: 5 uA, integration_time: 2 s}
"""
REGION = "sample.regions.lower_right.magnetism"
COERCIVITY = f"{REGION}.coercivity"
DRIVE = f"{REGION}.anomalous_current.bias"


@pytest.fixture
def loop_file(tmp_path) -> Path:
    path = tmp_path / "loop.yaml"
    path.write_text(LOOP)
    return path
