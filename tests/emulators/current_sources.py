"""What the tests of the bias current sources (the Keithley 6221 and the Yokogawa GS200,
each against its emulator) share: the units and ramp rates they speak in, the bench they
open a source on, and the probes of the world's bias current and of the VISA connection."""

from __future__ import annotations

UA = 1e-6
RATE = 20 * UA  # A/s, the default station's bias ramp rate
FAST = 100 * UA  # A/s, its fastest: for ramps that only set the scene
SPEED = 1000.0  # lab s per wall s: a 2 lab-s ramp takes a few ms
BLOCK = {"compliance": "1.5 V"}  # the station block the tests open a source with


def open_source(bench, driver: str, block: dict | None = None):
    """The bench of `driver` at `SPEED`, opened with `block` (default `BLOCK`)."""
    return bench(driver, dict(BLOCK if block is None else block), speed=SPEED)


def record_bias(source) -> list[tuple[float, float]]:
    """(lab time in s, A) of every bias current the world is given from now on."""
    given: list[tuple[float, float]] = []
    with source.link.world() as world:
        apply = world.set_bias_current

        def recorded(amps: float) -> None:
            given.append((world.time, amps))
            apply(amps)

        world.set_bias_current = recorded
    return given


def world_bias(source) -> tuple[float, bool]:
    """(A, output on) of the world's bias current now."""
    with source.link.world() as world:
        return world.bias_current, world.bias_output


def visa_timeouts_ms(source) -> list[float]:
    """The VISA timeouts (ms) of the connections the driver opened on the bench."""
    return [closer.__self__.connection.timeout for closer in source.context.closers]
