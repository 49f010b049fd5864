"""The disk cache of the twin's film solves (sims/solve_cache.py): a second build of a
sample reads every solve instead of repeating it, across processes; a change of the
sample file makes new entries; a damaged entry is solved again; a cache that cannot be
written costs only the time."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from sqm.sims import film_sample
from sqm.sims.film.pearl import PearlSolver
from sqm.sims.sample_file import load_sample
from sqm.sims.solve_cache import SolveCache, cache_key

from ..conftest import CONFIGS, REPO

STRIP = CONFIGS / "samples" / "long_strip.yaml"
_PROCESS_CACHES = (film_sample.film_geometry, film_sample.bias_response, film_sample.meissner_response,
                   film_sample.bias_patterns, film_sample.meissner_patterns, film_sample._susceptibility_lattice)


def _forget_this_process(monkeypatch, folder) -> None:
    """Start as a new process would: the disk cache in `folder`, nothing kept in memory."""
    monkeypatch.setenv("SQM_CACHE_DIR", str(folder))
    monkeypatch.delenv("SQM_CACHE", raising=False)
    for cached in _PROCESS_CACHES:
        cached.cache_clear()


def _count_solves(monkeypatch) -> list[int]:
    solves = [0]
    original = PearlSolver.solve

    def counting(self, *args, **kwargs):
        solves[0] += 1
        return original(self, *args, **kwargs)

    monkeypatch.setattr(PearlSolver, "solve", counting)
    return solves


def _build(sample):
    """Everything a run on `sample` needs at base temperature."""
    built = film_sample.FilmSample(np.random.default_rng(0), sample, 1e-6, 0.5e-6)
    built.susceptibility(np.array([0.0]), np.array([0.0]), 1e-6, 1.5, _Coil())
    return built


class _Coil:
    field_coil_radius, pickup_radius = 1.5e-6, 0.5e-6


def test_a_second_build_solves_nothing_and_gives_the_same_film(tmp_path, monkeypatch):
    sample = load_sample(STRIP)
    _forget_this_process(monkeypatch, tmp_path)
    solves = _count_solves(monkeypatch)
    first = _build(sample)
    assert solves[0] >= 2  # the bias and the Meissner response at least
    entries = sorted(path.name for path in tmp_path.glob("*.npz"))
    _forget_this_process(monkeypatch, tmp_path)
    solves[0] = 0
    second = _build(sample)
    assert solves[0] == 0
    assert sorted(path.name for path in tmp_path.glob("*.npz")) == entries
    np.testing.assert_array_equal(second._map("bias", 1e-6), first._map("bias", 1e-6))


def test_another_process_reads_the_entries(tmp_path):
    build = ("import numpy as np; from sqm.sims.sample_file import load_sample; from sqm.sims import film_sample;"
             "from sqm.sims.film.pearl import PearlSolver; n = [0]; solve = PearlSolver.solve;"
             "PearlSolver.solve = lambda self, *a, **k: (n.__setitem__(0, n[0] + 1), solve(self, *a, **k))[1];"
             f"film_sample.FilmSample(np.random.default_rng(0), load_sample({str(STRIP)!r}), 1e-6, 0.5e-6);"
             "print(n[0])")
    environment = {**os.environ, "SQM_CACHE_DIR": str(tmp_path)}
    environment.pop("SQM_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", build], env=environment, capture_output=True, text=True,
                           cwd=REPO, check=True).stdout.split()[-1] for _ in range(2)]
    assert int(runs[0]) >= 2 and int(runs[1]) == 0


def test_a_changed_sample_file_makes_new_entries(tmp_path, monkeypatch):
    text = STRIP.read_text()
    changed = tmp_path / "strip.yaml"
    changed.write_text(text.replace("pearl_length: 2 um", "pearl_length: 3 um"))
    _forget_this_process(monkeypatch, tmp_path / "cache")
    _build(load_sample(STRIP))
    before = set((tmp_path / "cache").glob("*.npz"))
    solves = _count_solves(monkeypatch)
    _build(load_sample(changed))
    assert solves[0] >= 2
    assert set((tmp_path / "cache").glob("*.npz")) > before


def test_a_sample_that_differs_only_in_its_magnetic_numbers_reuses_the_film_solves(tmp_path, monkeypatch):
    """A batch or a fit varying a coercivity (sqm sweep, sqm fit) must not solve the film again:
    no cached solve depends on a region's magnetic numbers, only on which regions are magnetic."""
    flake = CONFIGS / "samples" / "fese_flake.yaml"
    text = flake.read_text()
    harder = tmp_path / "harder.yaml"
    line = next(line for line in text.splitlines() if "coercivity:" in line)
    harder.write_text(text.replace(line, line.split("coercivity:")[0] + "coercivity: 7.5 A/m"))
    assert load_sample(harder).text != load_sample(flake).text
    _forget_this_process(monkeypatch, tmp_path / "cache")
    first = _build(load_sample(flake))
    solves = _count_solves(monkeypatch)
    _forget_this_process(monkeypatch, tmp_path / "cache")
    second = _build(load_sample(harder))
    assert solves[0] == 0
    np.testing.assert_array_equal(second._map("bias", 1e-6), first._map("bias", 1e-6))


def test_a_damaged_entry_is_solved_again(tmp_path):
    cache = SolveCache(tmp_path, enabled=True)
    key = cache_key(kind="test", value=1.0)
    cache.store(key, {"g": np.arange(4.0)})
    (tmp_path / f"{key}.npz").write_bytes(b"not a zip file at all")
    solved = cache.get_or_compute(key, lambda: {"g": np.ones(3)})
    np.testing.assert_array_equal(solved["g"], np.ones(3))
    np.testing.assert_array_equal(cache.load(key)["g"], np.ones(3))  # and stored again whole


def test_a_cache_that_cannot_be_written_only_costs_the_time(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("a file where the cache folder should be")
    cache = SolveCache(blocked / "solves", enabled=True)
    with pytest.warns(UserWarning, match="cannot store a solve"):
        arrays = cache.get_or_compute(cache_key(kind="test"), lambda: {"g": np.zeros(2)})
    np.testing.assert_array_equal(arrays["g"], np.zeros(2))


def test_keys_count_every_digit(tmp_path):
    assert cache_key(temperature=1.5) != cache_key(temperature=1.5000001)
    assert cache_key(a=1, b=2) == cache_key(b=2, a=1)
