"""The procedure panel: open a file, edit its steps, check it, queue it, run it.

The panel keeps the file's steps as raw YAML values (what the operator typed, units
included). `build_procedure_file()` turns them back into procedure text and lets the
core parse and validate it against the station limits, so the GUI never has its own
idea of what is valid. Any problem is shown in one line and nothing starts.

Each entry of the step list shows what tells the step apart: for a procedure the file
uses more than once, the parameters whose values differ between those steps (most
varied first, e.g. the bias of each of eight raster scans), otherwise the parameters
the file gives (a bias, field or temperature first), in readable units. While a run
of this file goes, the step it is in is highlighted. Start is disabled while a run is
active ("Add to queue" queues); the "Reference" tab shows the selected step's
procedure reference (`sqm.procedure_reference.describe`, with the station's limits).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import yaml
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QBrush, QColor, QFontDatabase
from PyQt5.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from sqm.errors import UserInputError
from sqm.procedure_file import ProcedureFile, parse_procedure_text
from sqm.procedures import PROCEDURES
from sqm.session import dry_run
from sqm.station import Station

from .event_bridge import TaskPool
from .parameter_form import ParameterForm, effective_value, readable
from .run_controller import RunController

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "procedures"
RUNNING_STEP_COLOUR = "#ffe082"
SHOWN_PARAMETERS = 3  # at most this many parameters in a step's entry (all of them in its tooltip)
NOTHING_LOADED = "open or write a procedure first"


def step_entries(steps: list[tuple[str, dict]]) -> list[tuple[str, str]]:
    """(text, tooltip) of each step's list entry: "4. raster_scan: bias_current 100 uA, ..."."""
    values = []  # per step: {parameter: effective value}, in the procedure's order
    for name, raw in steps:
        cls = PROCEDURES.get(name)
        params = cls.params if cls is not None else ()
        values.append({param.name: (param, effective_value(param, raw.get(param.name))) for param in params})
    entries = []
    for index, ((name, raw), step_values) in enumerate(zip(steps, values), start=1):
        same = [other for (other_name, _), other in zip(steps, values) if other_name == name]
        shown = _distinguishing(step_values, same) if len(same) > 1 else []
        if not shown:  # the only step of its procedure, or one just like its others: what the file gives,
            given = [key for key in raw if key in step_values]  # its setpoints and sweeps first
            shown = sorted(given, key=lambda key: not _is_setpoint(step_values[key][0]))[:2]
        parts = [f"{key} {readable(*step_values[key])}" for key in shown if step_values[key][1] is not None]
        text = f"{index}. {name}" + (": " + ", ".join(parts[:SHOWN_PARAMETERS]) if parts else "")
        tooltip = "\n".join([f"step {index}: {name}"] + [
            f"{key}: {readable(param, value)}" for key, (param, value) in step_values.items() if value is not None])
        entries.append((text, tooltip))
    return entries


def _is_setpoint(param) -> bool:
    """What the state of the sample depends on: a bias, field or temperature (or a list of them), a word."""
    return param.dimension in ("current", "field", "temperature", "text")


def _distinguishing(step_values: dict, same: list[dict]) -> list[str]:
    """The parameters whose values differ between the steps of one procedure: the most varied
    first, then words (a signal) before numbers, then in the procedure's order."""
    ranked = []
    for order, (key, (param, _)) in enumerate(step_values.items()):
        distinct = len({repr(other[key][1]) for other in same})
        if distinct > 1:
            ranked.append((-distinct, param.dimension != "text", order, key))
    return [key for *_, key in sorted(ranked)]


class ProcedurePanel(QGroupBox):
    """Steps list, parameter form, Check, queue and Start / Pause / Resume / Abort."""

    message_changed = pyqtSignal(str)

    def __init__(self, station: Station, controller: RunController, tasks: TaskPool,
                 parent: QWidget | None = None) -> None:
        super().__init__("Procedure", parent)
        self.station = station
        self.controller = controller
        self._tasks = tasks
        self.source = ""
        self.description = ""
        self.steps: list[tuple[str, dict]] = []  # (procedure name, raw parameters)
        self.last_check: str = ""
        self._running = False
        self._start_hold = ""  # why runs may not start now ("" if they may)
        self._running_steps: list[str] = []  # the procedures of the running file's steps
        self._running_step: int | None = None  # 1-based

        self.file_label = QLabel("no procedure file")
        self.file_label.setWordWrap(True)
        open_button = QPushButton("Open...")
        open_button.clicked.connect(self.choose_file)
        self.step_list = QListWidget()
        self.step_list.setTextElideMode(Qt.ElideRight)  # a long entry ends in "...": its tooltip has it all
        self.step_list.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.step_list.currentRowChanged.connect(self._show_step)
        self.form = ParameterForm()
        self.form.edited.connect(self._step_edited)
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form)
        self.reference = QPlainTextEdit()
        self.reference.setReadOnly(True)
        self.reference.setObjectName("procedure_reference")
        self.reference.setFont(QFontDatabase.systemFont(QFontDatabase.FixedFont))
        self.step_tabs = QTabWidget()
        self.step_tabs.addTab(form_scroll, "Parameters")
        self.step_tabs.addTab(self.reference, "Reference")
        self.step_tabs.setTabToolTip(1, "The selected step's procedure: its parameters, units, defaults and "
                                        "this station's limits")
        self.step_tabs.currentChanged.connect(lambda _: self._fill_reference())
        self.message = QLabel("")
        self.message.setWordWrap(True)
        self.message.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.message.setObjectName("procedure_message")

        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Parse, check against the station limits and dry-run on the twin")
        self.check_button.clicked.connect(self.check)
        self.queue_button = QPushButton("Add to queue")
        self.queue_button.clicked.connect(self.add_to_queue)
        self.queue_list = QListWidget()
        self.queue_list.setMaximumHeight(60)
        controller.queue_changed.connect(self._show_queue)
        controller.start_hold_changed.connect(self._show_start_hold)

        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.resume_button = QPushButton("Resume")
        self.abort_button = QPushButton("Abort")
        self.start_button.setStyleSheet("QPushButton { font-weight: bold; }")
        self.abort_button.setStyleSheet("QPushButton { color: #c62828; font-weight: bold; }")
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(controller.pause)
        self.resume_button.clicked.connect(controller.resume)
        self.abort_button.clicked.connect(lambda: controller.abort())

        top = QHBoxLayout()
        top.addWidget(open_button)
        top.addWidget(self.file_label, 1)
        checks = QHBoxLayout()
        checks.addWidget(self.check_button)
        checks.addWidget(self.queue_button)
        runs = QHBoxLayout()
        for button in (self.start_button, self.pause_button, self.resume_button, self.abort_button):
            runs.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.step_list, 1)
        layout.addWidget(self.step_tabs, 2)
        layout.addLayout(checks)
        layout.addWidget(QLabel("queue (runs after the current one):"))
        layout.addWidget(self.queue_list)
        layout.addLayout(runs)
        layout.addWidget(self.message)
        self.set_running(False)

    # Loading ------------------------------------------------------------------
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a procedure file", str(CONFIGS), "Procedures (*.yaml *.yml)")
        if path:
            self.open_file(path)

    def open_file(self, path: str | Path) -> bool:
        """Load a procedure file's steps into the list; False (and a message) if unreadable."""
        try:
            text = Path(path).read_text()
        except OSError as error:
            self.show_message(f"{path}: cannot read ({error.strerror})", error=True)
            return False
        return self.load_text(text, str(path))

    def load_text(self, text: str, source: str = "procedure.yaml") -> bool:
        """Load procedure text (the same YAML as a file); False (and a message) if malformed."""
        try:
            # the core's own checks of the file's shape; with the station's limits, a setpoint
            # beyond them is named before any check of a step's size
            parse_procedure_text(text, source, limits=self.station.limits)
        except UserInputError as error:
            self.show_message(str(error), error=True)
            return False
        data = yaml.safe_load(text)
        self.source, self.description = source, str(data.get("description", ""))
        self.steps = [next(iter(entry.items())) for entry in data["steps"]]
        self.steps = [(name, dict(raw or {})) for name, raw in self.steps]
        self.file_label.setText(f"<b>{Path(source).name}</b><br><small>{self.description}</small>")
        self.step_list.clear()
        self.step_list.addItems([""] * len(self.steps))
        self._show_entries()
        self.step_list.setCurrentRow(0)
        self.show_message(f"{len(self.steps)} steps loaded; select one to edit its parameters")
        return True

    def _show_entries(self) -> None:
        """Each step's entry (what tells it apart) and the running step's highlight."""
        for row, (text, tooltip) in enumerate(step_entries(self.steps)):
            item = self.step_list.item(row)
            item.setText(text)
            item.setToolTip(tooltip)
        self._show_running_step()

    def _show_step(self, row: int) -> None:
        if 0 <= row < len(self.steps):
            name, raw = self.steps[row]
            self.form.show_step(row + 1, name, raw)
        self._fill_reference()

    def _step_edited(self, step_number: int, raw: dict) -> None:
        name, _ = self.steps[step_number - 1]
        self.steps[step_number - 1] = (name, raw)
        self._show_entries()

    # Reference ----------------------------------------------------------------
    def show_reference(self) -> None:
        """Show the "Reference" tab: the selected step's procedure, with this station's limits."""
        self.step_tabs.setCurrentWidget(self.reference)
        self._fill_reference()

    def _fill_reference(self) -> None:
        if self.step_tabs.currentWidget() is not self.reference:
            return  # filled when shown
        row = self.step_list.currentRow()
        if not 0 <= row < len(self.steps):
            self.reference.setPlainText(f"{NOTHING_LOADED}, then select a step: its procedure's reference shows here")
            return
        name = self.steps[row][0]
        try:  # imported when first asked for: the GUI starts without it
            reference = importlib.import_module("sqm.procedure_reference")
        except ImportError as error:
            self.reference.setPlainText(f"the procedure reference is not available here ({error})")
            return
        try:
            text = reference.describe(name, self.station.limits)
        except UserInputError as error:  # e.g. a procedure the core does not know
            text = str(error)
        except Exception as error:  # shown, never raised in the GUI's slot
            text = f"the procedure reference failed for {name}: {type(error).__name__}: {error}"
        self.reference.setPlainText(text)

    def procedure_text(self) -> str:
        """The procedure file as now edited."""
        data = {"description": self.description} if self.description else {}
        data["steps"] = [{name: raw} for name, raw in self.steps]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def build_procedure_file(self) -> ProcedureFile:
        """Parse and validate the edited steps against the station limits (UserInputError if bad)."""
        if not self.steps:
            raise UserInputError(NOTHING_LOADED)
        procedure_file = parse_procedure_text(self.procedure_text(), Path(self.source).name or "procedure.yaml",
                                              limits=self.station.limits)
        procedure_file.validate(self.station.limits)
        return procedure_file

    def _built_or_message(self) -> ProcedureFile | None:
        try:
            return self.build_procedure_file()
        except UserInputError as error:
            self.show_message(f"Not started: {error}", error=True)
            return None

    # Actions ------------------------------------------------------------------
    def check(self) -> None:
        """Validate, then dry-run on a fresh twin in a background thread; show the lab time."""
        procedure_file = self._built_or_message()
        if procedure_file is None:
            return
        self.check_button.setEnabled(False)
        self.show_message("valid for this station; dry run on the twin...")
        self._tasks.run(lambda: dry_run(procedure_file, self.station.limits), self._show_check, "sqm-gui-dry-run")

    def _show_check(self, outcome, error) -> None:
        self.check_button.setEnabled(True)
        if error is not None:
            self.last_check = f"dry run failed: {error}"
            self.show_message(self.last_check, error=True)
            return
        seconds = outcome.station_seconds
        if outcome.status == "completed":
            self.last_check = f"OK: dry run completed, {seconds:.0f} s of lab time ({seconds / 3600:.2f} h)"
            self.show_message(self.last_check)
        else:
            self.last_check = f"dry run {outcome.status}: {outcome.error}"
            self.show_message(self.last_check, error=True)

    def add_to_queue(self) -> None:
        procedure_file = self._built_or_message()
        if procedure_file is not None:
            self.controller.enqueue(procedure_file)
            self.show_message(f"queued {procedure_file.source}")

    def start(self) -> None:
        """Start the edited procedure now (or, with none loaded, the first queued one).

        Refused, with nothing queued or written, while a run is active (Start is then
        disabled: "Add to queue" queues) and while starts are held (the station is
        being made safe); the controller refuses too, whoever asks it."""
        if self.controller.is_running():
            self.show_message("Not started: a run is active; use Add to queue to run this after it", error=True)
            return
        refusal = self.controller.start_refusal()
        if refusal:
            self.show_message(f"Not started: {refusal}; start again once that is done", error=True)
            return
        if not self.steps and self.controller.start_next():
            return
        procedure_file = self._built_or_message()
        if procedure_file is None:
            return
        try:
            path = self.controller.start(procedure_file)
        except UserInputError as error:
            self.show_message(f"Not started: {error}", error=True)
            return
        self.show_message(f"running, writing {path}")

    # Display ------------------------------------------------------------------
    def _show_start_hold(self, reason: str) -> None:
        """Start (which also starts the queue) is disabled while runs may not start.

        Check stays enabled: its dry run is on a fresh twin, never on this station.
        Once the hold ends its message goes; whoever held starts says how it ended
        (the window: whether the station is safe)."""
        self._start_hold = reason
        self._enable_start()
        if reason:
            self.show_message(f"Start disabled: {reason}")
        elif self.message.text().startswith("Start disabled:"):
            self.show_message("")

    def _enable_start(self) -> None:
        reason = "a run is active: use Add to queue to run this after it" if self._running else self._start_hold
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(f"disabled: {reason}" if reason else "")

    def set_running(self, running: bool, paused: bool = False) -> None:
        self._running = running
        self._enable_start()
        self.pause_button.setEnabled(running and not paused)
        self.resume_button.setEnabled(running and paused)
        self.abort_button.setEnabled(running)
        if not running:
            self._running_steps, self._running_step = [], None
            self._show_running_step()

    def run_started(self, procedure_file: ProcedureFile) -> None:
        """A run of `procedure_file` started: its steps are highlighted here as it goes,
        if they are the steps this panel lists."""
        self._running_steps = [step.procedure.name for step in procedure_file.steps]
        self._running_step = None
        self._show_running_step()

    def show_running_step(self, step: int) -> None:
        """The run is in step `step` (1-based, from its StepStarted event)."""
        self._running_step = step
        self._show_running_step()
        if 0 < step <= self.step_list.count():
            self.step_list.scrollToItem(self.step_list.item(step - 1))

    def _show_running_step(self) -> None:
        ours = self._running_steps == [name for name, _ in self.steps]
        for row in range(self.step_list.count()):
            item = self.step_list.item(row)
            running = ours and self._running_step == row + 1
            font = item.font()
            font.setBold(running)
            item.setFont(font)
            item.setBackground(QBrush(QColor(RUNNING_STEP_COLOUR)) if running else QBrush())

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828; font-weight: bold" if error else "color: #1b5e20")
        self.message_changed.emit(text)

    def _show_queue(self, sources: list) -> None:
        self.queue_list.clear()
        self.queue_list.addItems([Path(source).name for source in sources])
