"""Run files as NeXus tools read them: each demo file opens on its measurement
(nexusformat's plottable data follows the @default chain), entries carry their times,
instrument, sample, user and note, signals and axes their long names, and a thermal
cycle's result (remanence against the anneal temperature) is an NXdata of its own."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from nexusformat.nexus import nxload

from sqm.cli import main
from sqm.procedures import PROCEDURES
from sqm.session import run_procedure
from sqm.station import DEFAULT_STATION, Station

from ..conftest import CONFIGS, twin_station_text

DEMO = ("fig2_images", "fig2c_transport", "fig3_bias_loop", "fig3cd_edge", "fig3f_thermal", "fig4_field_loop")


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("nexus")
    files = {}
    for name in DEMO:
        result = run_procedure(CONFIGS / "procedures" / f"{name}.yaml", Station.from_file(DEFAULT_STATION), folder)
        assert result.outcome.status == "completed", result.outcome.error
        files[name] = result.path
    return files


def _first_measuring_entry(h5: h5py.File) -> str:
    return next(name for name in h5 if isinstance(h5[name], h5py.Group) and "procedure" in h5[name].attrs
                and PROCEDURES[h5[name].attrs["procedure"]].measures)


@pytest.mark.parametrize("name", DEMO)
def test_every_demo_file_opens_on_its_measurement(demo_files, name):
    root = nxload(str(demo_files[name]))
    with h5py.File(demo_files[name]) as h5:
        measuring = _first_measuring_entry(h5)
        main_plot = f"/{measuring}/{h5[measuring].attrs['default']}"
        assert h5[main_plot].attrs["NX_class"] == "NXdata"
    assert root.plottable_data.nxpath == main_plot
    for entry in root.NXentry:  # every entry has a default plot of its own
        assert entry.plottable_data is not None and entry.plottable_data.nxclass == "NXdata"


@pytest.mark.parametrize("name", DEMO)
def test_silx_opens_every_demo_file_on_its_measurement(demo_files, name):
    nxdata = pytest.importorskip("silx.io.nxdata")
    with h5py.File(demo_files[name]) as h5:
        measuring = _first_measuring_entry(h5)
        main_plot = f"/{measuring}/{h5[measuring].attrs['default']}"
        found = nxdata.get_default(h5)  # silx's viewer follows the same @default chain
        assert found is not None and found.group.name == main_plot and found.is_valid
        assert found.signal.name == f"{main_plot}/{h5[main_plot].attrs['signal']}"
        assert found.signal_name == h5[found.signal.name].attrs["long_name"]  # silx labels the plot with it
        for entry in (h5[key] for key in h5 if isinstance(h5[key], h5py.Group) and "procedure" in h5[key].attrs):
            default = nxdata.get_default(entry)
            assert default is not None and default.is_valid, entry.name


@pytest.mark.parametrize("name", DEMO)
def test_entries_carry_times_instrument_sample_and_long_names(demo_files, name):
    with h5py.File(demo_files[name]) as h5:
        assert h5.attrs["file_name"] == demo_files[name].name
        assert h5.attrs["creator"].startswith("sqm ") and h5.attrs["HDF5_Version"] == h5py.version.hdf5_version
        assert h5.attrs["file_time"] == h5.attrs["created"]
        for entry_name, entry in h5.items():
            if not isinstance(entry, h5py.Group):
                continue
            assert entry["start_time"][()].decode() == entry.attrs["started"]
            assert entry["end_time"][()].decode() == entry.attrs["finished"]
            assert entry["title"][()].decode() == entry.attrs["procedure"]
            assert entry["snapshot"].attrs["NX_class"] == "NXinstrument"
            assert entry["snapshot/squid"].attrs["NX_class"] == "NXdetector"
            assert entry["snapshot/squid/name"][()].decode() == entry["snapshot/squid"].attrs["identity"]
            assert entry["sample"].attrs["NX_class"] == "NXsample"
            assert entry["sample/name"][()].decode() == h5.attrs["sample"]
            data = entry[entry.attrs["default"]]
            signal = data[data.attrs["signal"]]
            assert signal.attrs["long_name"].endswith(f"({signal.attrs['units']})")
            for axis in np.atleast_1d(data.attrs["axes"]):
                assert "long_name" in data[axis].attrs


def test_the_thermal_cycle_result_is_its_own_nxdata(demo_files):
    with h5py.File(demo_files["fig3f_thermal"]) as h5:
        (entry,) = [h5[name] for name in h5 if h5[name].attrs.get("procedure") == "thermal_cycle"]
        assert entry.attrs["default"] == "remanence"
        result = entry["remanence"]
        assert result.attrs["NX_class"] == "NXdata"
        signal = result.attrs["signal"]
        anneals = result["anneal_temperature"][()]
        parameters = yaml.safe_load(entry.attrs["parameters"])
        np.testing.assert_allclose(anneals, parameters["anneal_temperature"]["value"])
        # each value is the probe's reading after its anneal, as the log recorded it
        log = entry["data"]
        read = np.isfinite(log[signal][()])
        np.testing.assert_array_equal(result[signal][()], log[signal][()][read])
        np.testing.assert_array_equal(anneals, log["anneal_temperature"][()][read])


def test_operator_sample_cooldown_and_note_from_the_station_file_and_the_command(tmp_path, capsys):
    data = yaml.safe_load(twin_station_text())
    data["metadata"] = {"operator": "A. Physicist", "cooldown": "CD-2026-14", "note": "from the station"}
    station = tmp_path / "station.yaml"
    station.write_text(yaml.safe_dump(data, sort_keys=False))
    procedure = tmp_path / "p.yaml"
    procedure.write_text("steps:\n  - park: {x: 0 um, y: 0 um, height: 2 um}\n")
    assert main(["run", str(procedure), "--station", str(station), "--out", str(tmp_path / "runs"),
                 "--note", "after the magnet service", "--sample", "flake B2"]) == 0
    path = Path(capsys.readouterr().out.strip().splitlines()[-1])
    with h5py.File(path) as h5:
        assert h5.attrs["operator"] == "A. Physicist" and h5.attrs["cooldown"] == "CD-2026-14"
        assert h5.attrs["note"] == "after the magnet service"  # the command's, over the station file's
        assert h5.attrs["sample"] == "flake B2"
        entry = h5["001_park"]
        assert entry["user/name"][()].decode() == "A. Physicist" and entry["user"].attrs["NX_class"] == "NXuser"
        assert entry["note/data"][()].decode() == "after the magnet service"
        assert entry["sample/name"][()].decode() == "flake B2"
    assert main(["show", str(path)]) == 0
    shown = capsys.readouterr().out
    assert "operator: A. Physicist" in shown and "cooldown: CD-2026-14" in shown
    assert "note: after the magnet service" in shown and "sample: flake B2" in shown


@pytest.mark.parametrize("block, message", [
    ("metadata: [A. Physicist]", "metadata: must be a mapping"),
    ("metadata: {operater: A. Physicist}", "metadata: unknown key(s) operater"),
    ("metadata: {note: {a: 1}}", "metadata.note: must be text"),
])
def test_bad_metadata_is_refused_in_one_line(tmp_path, capsys, block, message):
    station = tmp_path / "station.yaml"
    station.write_text(twin_station_text() + block + "\n")
    procedure = tmp_path / "p.yaml"
    procedure.write_text("steps:\n  - park: {x: 0 um, y: 0 um, height: 2 um}\n")
    assert main(["check", str(procedure), "--station", str(station)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
