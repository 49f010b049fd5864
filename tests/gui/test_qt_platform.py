"""`sqm gui` says in one line what is missing when Qt cannot open a window, instead of
letting Qt abort the process."""

from __future__ import annotations

from sqm.gui import app, qt_platform
from sqm.gui.qt_platform import platform_problem


def test_missing_xcb_libraries_are_named_with_their_debian_packages():
    problem = platform_problem({"DISPLAY": ":0"}, "linux", ["libxcb-icccm.so.4", "libxcb-xinerama.so.0"])
    assert "missing libxcb-icccm.so.4, libxcb-xinerama.so.0" in problem
    assert "sudo apt install libxcb-icccm4 libxcb-xinerama0" in problem
    assert "\n" not in problem


def test_a_platform_the_user_chose_or_another_system_is_left_to_qt():
    assert platform_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux", ["libxcb-icccm.so.4"]) is None
    assert platform_problem({}, "darwin", ["libxcb-icccm.so.4"]) is None
    assert platform_problem({"DISPLAY": ":0"}, "linux", []) is None


def test_no_display_is_said_plainly():
    assert "DISPLAY is not set" in platform_problem({}, "linux", [])


def test_sqm_gui_stops_with_one_line_before_qt_aborts(monkeypatch, capsys):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(qt_platform.sys, "platform", "linux")
    monkeypatch.setattr(qt_platform, "xcb_plugin", lambda: qt_platform.Path("/nonexistent/libqxcb.so"))
    monkeypatch.setattr(qt_platform, "missing_libraries", lambda plugin: ["libxcb-keysyms.so.1"])
    assert app.main() == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sqm gui: Qt cannot load its 'xcb' platform plugin") and "libxcb-keysyms1" in err
    assert len(err.splitlines()) == 1


def test_the_real_plugin_check_returns_library_names():
    plugin = qt_platform.xcb_plugin()
    if plugin is not None:
        assert all(name.startswith("lib") for name in qt_platform.missing_libraries(plugin))
