"""The magnetic numbers of the paper's flake (configs/samples/fese_flake.yaml), from model R.

    python -m sqm.sims.model_r_calibration [SAMPLE.yaml] [--write]

Model R (sims/lumped.py, docs/physics.md "Model R") states the paper's loops at two
probe points: switching currents and fields, their spreads, the remanences. The film
model states the same facts as properties of each magnetic region, in the region-mean
sheet current density (A/m) that drives its hysterons. This script converts one into
the other on the film's own solutions and prints the `magnetism:` numbers of each
region; `--write` puts them into the sample file in place (which then holds every
number; the code none):

- lower_right (the park point's region): coercivity and spreads are model R's 140, 2
  and 8 uA times P_b, the region-mean bias sheet current per ampere; the reversible
  quintic term likewise.
- lower_left: coercivity 0.86 of that current (its virgin onset is the edge-current
  jump at 120 uA of Fig. 3c-d), in its own P_b.
- the Meissner drive ratio r of each lower region: the region's virgin magnetisation
  at 1.08 G equals model R's lower domain's there (so the park point's flux turns
  through zero near 1.08 G, check 14), with the region's own spreads.
- upper: its bias threshold is put above I_c(0) (the paper reports no bias loop of
  it, so a bias never switches it: phenomenological); its field loop is model R's
  upper one (1.45 G, spreads 0.02 and 0.10 G) through its own r.
- anomalous sheet currents: the bias one so that the saturated lower domain gives
  model R's remanence A k at the park point (k the film's own Oersted coupling there);
  the Meissner ones, lower and upper solved together (each domain's anomalous currents
  reach the other's probe, which model R leaves out), in the state that decides check
  14, the lower domain saturated and the upper one as far as 1.51 G takes it: at the
  park point model R's A_L (chi_L the film's own Meissner coupling there); at the upper
  probe the flux that puts the domain midway between the two fields the paper sees it
  cross in that state (diamagnetic at 1.51 G rising, paramagnetic at 0.64 G falling).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import scipy.optimize
import scipy.special

from .film_sample import FilmSample, bias_patterns, meissner_patterns
from .lumped import GAUSS_T, LOWER_DOMAIN_FIELD_PARAMETERS, UPPER_DOMAIN_FIELD_PARAMETERS, BiasLoopParameters
from .sample_file import load_sample
from .world import PAPER_SAMPLE, SensorGeometry

LOWER_LEFT_RATIO = 0.86  # the edge jump at 120 uA over the park point's 140 uA (paper Fig. 3b-d)
UPPER_BIAS_THRESHOLD = 300e-6  # A: above I_c(0) = 264 uA, so the upper domain never switches by a bias
TURNING_FIELD = 1.08 * GAUSS_T  # T: where the paper's lower domain turns from diamagnetic to positive


def virgin_magnetisation(drive: float, coercivity: float, coercivity_spread: float, interaction_spread: float) -> float:
    """Mean state after a monotone drive from the virgin state (any drive unit): the
    fraction of pairs whose (c, -h) unit has switched, P(c + |h| <= drive), with
    c ~ N(coercivity, coercivity_spread) and |h| half-normal of scale interaction_spread."""
    c = np.linspace(coercivity - 6 * coercivity_spread, coercivity + 6 * coercivity_spread, 401)
    weight = np.exp(-0.5 * ((c - coercivity) / coercivity_spread) ** 2)
    switched = scipy.special.erf(np.clip(drive - c, 0.0, None) / (interaction_spread * np.sqrt(2)))
    return float(np.sum(weight * switched) / np.sum(weight))


def calibrate(path=PAPER_SAMPLE, scan_height: float = 1e-6) -> dict[str, dict[str, float]]:
    """The magnetism numbers of each region (A/m, dimensionless) from model R."""
    description = load_sample(path)
    sample = FilmSample(np.random.default_rng(0), description, scan_height, SensorGeometry().pickup_radius)
    bias_scale = {name: float(value) for name, value in _scales(bias_patterns(description, sample.bias_leads, 1.5))}
    meissner_scale = {name: float(value) for name, value in _scales(meissner_patterns(description, 1.5))}
    bias, lower_field, upper_field = BiasLoopParameters(), LOWER_DOMAIN_FIELD_PARAMETERS, UPPER_DOMAIN_FIELD_PARAMETERS
    park, upper_probe = sample.probe("park"), sample.probe("upper")
    target = virgin_magnetisation(TURNING_FIELD, lower_field.coercivity, lower_field.sigma_coercivity,
                                  lower_field.sigma_bias)

    numbers: dict[str, dict[str, float]] = {}
    for name, ratio in (("lower_right", 1.0), ("lower_left", LOWER_LEFT_RATIO)):
        p_b = bias_scale[name]
        region = {
            "coercivity": ratio * bias.coercivity * p_b,
            "coercivity_spread": bias.sigma_coercivity * p_b,
            "interaction_spread": bias.sigma_bias * p_b,
            "reversible_fraction": bias.quintic / bias.amplitude,
            "reversible_reference": bias.reference_current * p_b,
        }
        # the drive (A/m) at which the region's virgin magnetisation is model R's at 1.08 G
        drive = scipy.optimize.brentq(
            lambda u: virgin_magnetisation(u, region["coercivity"], region["coercivity_spread"],
                                           region["interaction_spread"]) - target,
            0.5 * region["coercivity"], 2.0 * region["coercivity"])
        region["meissner_drive_ratio"] = drive / (TURNING_FIELD * meissner_scale[name])
        numbers[name] = region
    upper_coercivity = UPPER_BIAS_THRESHOLD * bias_scale["upper"]
    upper_ratio = upper_coercivity / (upper_field.coercivity * meissner_scale["upper"])
    field_to_sheet = upper_ratio * meissner_scale["upper"]  # A/m of drive per tesla
    numbers["upper"] = {
        "coercivity": upper_coercivity,
        "coercivity_spread": upper_field.sigma_coercivity * field_to_sheet,
        "interaction_spread": upper_field.sigma_bias * field_to_sheet,
        "meissner_drive_ratio": upper_ratio,
    }

    # Bias: one anomalous sheet current for the lower domain, from the remanence at the park point.
    k = -sample.map_value("bias", park)
    saturated = sum(sample.map_value(f"pattern:{name}:bias", park) for name in ("lower_right", "lower_left"))
    anomalous_bias = bias.amplitude * k / saturated
    # Meissner: the two domains' anomalous sheet currents from both probes at once, in the state
    # that decides check 14: the lower domain saturated and the upper one as far as 1.51 G
    # takes it from virgin, where model R reads A_L at the park point and A_U m_U at the other.
    upper_state = virgin_magnetisation(1.51 * GAUSS_T, upper_field.coercivity, upper_field.sigma_coercivity,
                                       upper_field.sigma_bias)
    chi = {probe: -sample.map_value("meissner", point) for probe, point in (("park", park), ("upper", upper_probe))}
    response = np.array([
        [sum(sample.map_value(f"pattern:{name}:meissner", point) for name in ("lower_right", "lower_left")),
         upper_state * sample.map_value("pattern:upper:meissner", point)]
        for point in (park, upper_probe)
    ])
    # The upper domain's flux there: midway between the fields the paper sees it cross, still
    # diamagnetic at 1.51 G rising, paramagnetic at 0.64 G falling, in the same state.
    upper_target = 0.5 * (1.51 + 0.64) * GAUSS_T * chi["upper"]
    targets = [lower_field.amplitude_ratio * chi["park"], upper_target]
    lower_meissner, upper_meissner = np.linalg.solve(response, targets)
    for name in ("lower_right", "lower_left", "upper"):
        numbers[name]["anomalous_bias"] = anomalous_bias
        numbers[name]["anomalous_meissner"] = upper_meissner if name == "upper" else lower_meissner
    return numbers


def _scales(arrays: dict[str, np.ndarray]):
    return ((key.split(":", 1)[1], value) for key, value in arrays.items() if key.startswith("scale:"))


_FILE_KEYS = {  # calibrated number -> its place in a region's magnetism block
    "coercivity": ("coercivity", "A/m"), "coercivity_spread": ("coercivity_spread", "A/m"),
    "interaction_spread": ("interaction_spread", "A/m"), "meissner_drive_ratio": ("meissner_drive_ratio", ""),
    "anomalous_bias": ("bias", "A/m"), "anomalous_meissner": ("meissner", "A/m"),
    "reversible_fraction": ("fraction", ""), "reversible_reference": ("reference", "A/m"),
}


def write_numbers(path, numbers: dict[str, dict[str, float]]) -> None:
    """Replace each calibrated number in the sample file's text, region by region, keeping
    its layout and comments. Every number must already have its key in the file."""
    text = Path(path).read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=  \w+:\s*(?:#.*)?$)", text)
    for region, values in numbers.items():
        index = next(i for i, block in enumerate(blocks) if re.match(rf"  {region}:", block))
        for name, value in values.items():
            key, unit = _FILE_KEYS[name]
            pattern = rf"(\b{key}: )[-+0-9.eE]+(?: A/m)?"
            blocks[index], count = re.subn(pattern, rf"\g<1>{value:.6g}{' ' + unit if unit else ''}", blocks[index],
                                           count=1)
            if count != 1:
                raise KeyError(f"{path}: regions.{region}: no '{key}' to write")
    Path(path).write_text("".join(blocks), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    paths = [arg for arg in argv if arg != "--write"]
    path = paths[0] if paths else PAPER_SAMPLE
    numbers = calibrate(path)
    for region, values in numbers.items():
        print(f"{region}:")
        for key, value in values.items():
            unit = "" if "ratio" in key or "fraction" in key else " A/m"
            print(f"  {key}: {value:.6g}{unit}")
    if "--write" in argv:
        write_numbers(path, numbers)
        print(f"written into {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
