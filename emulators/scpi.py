"""What the emulators of SCPI-style instruments share: an error queue, and settings a
command writes and a query reads back, refused (queued as an error) when out of range."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

NO_ERROR = (0, "No error")
COMMAND_ERROR = (-100, "Command error")  # a message the instrument does not know
DATA_OUT_OF_RANGE = (-222, "Data out of range")  # a setting outside the instrument's range


@dataclass
class ErrorQueue:
    """The instrument's error queue, read one entry per `SYST:ERR?`-style query."""

    entries: list[tuple[int, str]] = field(default_factory=list)
    no_error: tuple[int, str] = NO_ERROR

    def push(self, entry: tuple[int, str]) -> None:
        self.entries.append(entry)

    def pop(self) -> str:
        """The oldest entry as the instrument writes it, `-222,"Data out of range"`."""
        code, text = self.entries.pop(0) if self.entries else self.no_error
        return f'{code},"{text}"'


@dataclass
class Setting:
    """One setting: its value, how a command's argument is read (`parse`, ValueError when it
    is not one), whether it is in range (`valid`), and how a query shows it (`show`)."""

    value: Any
    parse: Callable[[str], Any] = float
    show: Callable[[Any], str] = "{:.6E}".format
    valid: Callable[[Any], bool] = lambda value: True


def number_in(low: float, high: float) -> Callable[[Any], bool]:
    return lambda value: low <= value <= high


class Settings:
    """Settings by the command that writes them (`set_pattern`, a regex whose one group is
    the value) and the query that reads them back, for `handle` to try first."""

    def __init__(self, errors: ErrorQueue) -> None:
        self.errors = errors
        self._writers: list[tuple[re.Pattern[str], str]] = []
        self._readers: dict[str, str] = {}
        self.values: dict[str, Setting] = {}

    def add(self, name: str, setting: Setting, set_pattern: str, query: str) -> None:
        self.values[name] = setting
        self._writers.append((re.compile(set_pattern + r"$", re.IGNORECASE), name))
        self._readers[query.upper()] = name

    def __getitem__(self, name: str) -> Any:
        return self.values[name].value

    def __setitem__(self, name: str, value: Any) -> None:
        self.values[name].value = value

    def answer(self, message: str) -> tuple[bool, list[str], str | None]:
        """(handled, reply lines, name of the setting written, if one was)."""
        name = self._readers.get(message.upper())
        if name is not None:
            setting = self.values[name]
            return True, [setting.show(setting.value)], None
        for pattern, name in self._writers:
            match = pattern.match(message)
            if match:
                setting = self.values[name]
                try:
                    value = setting.parse(match.group(1).strip())
                except ValueError:
                    self.errors.push(DATA_OUT_OF_RANGE)
                    return True, [], None
                if not setting.valid(value):
                    self.errors.push(DATA_OUT_OF_RANGE)
                    return True, [], None
                setting.value = value
                return True, [], name
        return False, [], None
