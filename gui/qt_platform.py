"""Can Qt open a window here? Asked before the QApplication is made, because Qt's
own answer to a platform plugin that cannot load is to abort the process with a
paragraph about plugins ("Could not load the Qt platform plugin 'xcb'").

On Linux the default platform, xcb, needs a handful of X libraries that a bare
desktop or a server often lacks; the plugin's missing libraries are found with
`ldd` and named with the Debian/Ubuntu packages that provide them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Mapping

# Library (as ldd names it) -> the Debian/Ubuntu package that provides it.
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
}


def xcb_plugin() -> Path | None:
    """PyQt5's xcb platform plugin, if this installation has one."""
    try:
        import PyQt5
    except ImportError:
        return None
    plugin = Path(PyQt5.__file__).parent / "Qt5" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def missing_libraries(plugin: Path) -> list[str]:
    """The shared libraries `plugin` needs that the system lacks (ldd's 'not found')."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        listing = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    missing = [line.split("=>")[0].strip() for line in listing.splitlines() if "not found" in line]
    return list(dict.fromkeys(missing))


def platform_problem(environ: Mapping[str, str], platform: str, missing: list[str]) -> str | None:
    """One line saying why no window can open, or None. `platform` is sys.platform;
    `missing` the xcb plugin's missing libraries."""
    if platform != "linux" or environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None  # another platform, or one the user chose: Qt's own message then
    if missing:
        packages = [DEBIAN_PACKAGES[library] for library in missing if library in DEBIAN_PACKAGES]
        unknown = [library for library in missing if library not in DEBIAN_PACKAGES]
        install = f"on Debian/Ubuntu: sudo apt install {' '.join(packages)}" if packages else ""
        also = f"; also missing {', '.join(unknown)}" if unknown and packages else ""
        return (f"Qt cannot load its 'xcb' platform plugin: missing {', '.join(missing)} "
                f"({install or 'install them with your system package manager'}{also})")
    if not environ.get("DISPLAY"):
        return "no display to open a window on: DISPLAY is not set (log in to a desktop, use ssh -X, or xvfb-run)"
    return None


def check_qt_platform() -> str | None:
    """Why `sqm gui` cannot open a window here (one line), or None."""
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM", "xcb") != "xcb":
        return None
    plugin = xcb_plugin()
    return platform_problem(os.environ, sys.platform, missing_libraries(plugin) if plugin else [])
