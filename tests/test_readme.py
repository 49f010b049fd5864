"""The README's script example runs as written."""

import re
import runpy

from .conftest import REPO


def test_the_readme_script_example_runs(tmp_path, monkeypatch, capsys):
    readme = (REPO / "README.md").read_text()
    (example,) = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "run_procedure" in block]
    (tmp_path / "configs").symlink_to(REPO / "configs")
    monkeypatch.chdir(tmp_path)
    script = tmp_path / "example.py"
    script.write_text(example)
    runpy.run_path(str(script), run_name="__main__")
    printed = capsys.readouterr().out
    assert "completed" in printed and "s of lab time" in printed
    switching = float(re.search(r"switching at (-?[\d.]+) uA", printed).group(1))
    assert abs(switching + 120) <= 5
    assert list((tmp_path / "runs").glob("*.h5"))
