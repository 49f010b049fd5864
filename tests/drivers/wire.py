"""Shared by the driver tests: a wire that stops answering after its pairs."""

from pymeasure.adapters import ProtocolAdapter
from pyvisa.constants import StatusCode
from pyvisa.errors import VisaIOError


class SilentAfterPairs(ProtocolAdapter):
    """Replays its pairs; after them a read raises `error` (the instrument stopped
    answering), and with `fail_writes` set so does a write."""

    def __init__(self, comm_pairs, error: Exception) -> None:
        super().__init__(comm_pairs)
        self.error = error
        self.fail_writes = False

    def _read(self, **kwargs) -> str:
        if self._read_buffer is None and self._index >= len(self.comm_pairs):
            raise self.error
        return super()._read(**kwargs)

    def _write(self, command: str, **kwargs) -> None:
        if self.fail_writes and self._index >= len(self.comm_pairs):
            raise self.error
        super()._write(command, **kwargs)


VISA_TIMEOUT = VisaIOError(StatusCode.error_timeout)
