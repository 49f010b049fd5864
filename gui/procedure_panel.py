"""The procedure panel: open a file, edit its steps, check it, queue it, run it.

The panel keeps the file's steps as raw YAML values (what the operator typed, units
included). `build_procedure_file()` turns them back into procedure text and lets the
core parse and validate it against the station limits, so the GUI never has its own
idea of what is valid. Any problem is shown in one line and nothing starts.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QFileDialog,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from sqm.errors import UserInputError
from sqm.procedure_file import ProcedureFile, parse_procedure_text
from sqm.session import dry_run
from sqm.station import Station

from .event_bridge import TaskPool
from .parameter_form import ParameterForm
from .run_controller import RunController

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "procedures"


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

        self.file_label = QLabel("no procedure file")
        self.file_label.setWordWrap(True)
        open_button = QPushButton("Open...")
        open_button.clicked.connect(self.choose_file)
        self.step_list = QListWidget()
        self.step_list.currentRowChanged.connect(self._show_step)
        self.form = ParameterForm()
        self.form.edited.connect(self._step_edited)
        form_scroll = QScrollArea()
        form_scroll.setWidgetResizable(True)
        form_scroll.setWidget(self.form)
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
        layout.addWidget(form_scroll, 2)
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
            parse_procedure_text(text, source)  # the core's own checks of the file's shape
        except UserInputError as error:
            self.show_message(str(error), error=True)
            return False
        data = yaml.safe_load(text)
        self.source, self.description = source, str(data.get("description", ""))
        self.steps = [next(iter(entry.items())) for entry in data["steps"]]
        self.steps = [(name, dict(raw or {})) for name, raw in self.steps]
        self.file_label.setText(f"<b>{Path(source).name}</b><br><small>{self.description}</small>")
        self.step_list.clear()
        for index, (name, _) in enumerate(self.steps, start=1):
            self.step_list.addItem(f"{index}. {name}")
        self.step_list.setCurrentRow(0)
        self.show_message(f"{len(self.steps)} steps loaded; select one to edit its parameters")
        return True

    def _show_step(self, row: int) -> None:
        if 0 <= row < len(self.steps):
            name, raw = self.steps[row]
            self.form.show_step(row + 1, name, raw)

    def _step_edited(self, step_number: int, raw: dict) -> None:
        name, _ = self.steps[step_number - 1]
        self.steps[step_number - 1] = (name, raw)

    def procedure_text(self) -> str:
        """The procedure file as now edited."""
        data = {"description": self.description} if self.description else {}
        data["steps"] = [{name: raw} for name, raw in self.steps]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    def build_procedure_file(self) -> ProcedureFile:
        """Parse and validate the edited steps against the station limits (UserInputError if bad)."""
        if not self.steps:
            raise UserInputError("open a procedure file first")
        procedure_file = parse_procedure_text(self.procedure_text(), Path(self.source).name or "procedure.yaml")
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
        """Start the edited procedure now (queued instead if a run is active).

        Refused, with nothing queued or written, while starts are held (the station
        is being made safe); the controller refuses too, whoever asks it."""
        refusal = self.controller.start_refusal()
        if refusal:
            self.show_message(f"Not started: {refusal}; start again once that is done", error=True)
            return
        if not self.steps and not self.controller.is_running():
            if self.controller.start_next():
                return
        procedure_file = self._built_or_message()
        if procedure_file is None:
            return
        if self.controller.is_running():
            self.controller.enqueue(procedure_file)
            self.show_message(f"a run is active: queued {procedure_file.source}")
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

        Check stays enabled: its dry run is on a fresh twin, never on this station."""
        self.start_button.setEnabled(not reason)
        self.start_button.setToolTip(f"disabled: {reason}" if reason else "")
        if reason:
            self.show_message(f"Start disabled: {reason}")
        elif self.message.text().startswith("Start disabled:"):
            self.show_message("Start enabled again")

    def set_running(self, running: bool, paused: bool = False) -> None:
        self.pause_button.setEnabled(running and not paused)
        self.resume_button.setEnabled(running and paused)
        self.abort_button.setEnabled(running)

    def show_message(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setStyleSheet("color: #c62828; font-weight: bold" if error else "color: #1b5e20")
        self.message_changed.emit(text)

    def _show_queue(self, sources: list) -> None:
        self.queue_list.clear()
        self.queue_list.addItems([Path(source).name for source in sources])
