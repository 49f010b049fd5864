"""The station's safe state: every role, in order, retried until it holds.

Order: the role list's (`sqm.role_list`): bias to zero first, then retract z (fast,
and the sensor must not wait near the surface), then the magnet, then the rest. A role whose safe state fails (a read
timeout, a NaN read-back) is tried again after a back-off on the station clock, up to
`SAFE_STATE_ATTEMPTS` times; when it still fails, the role's `emergency_stop` does
what can be done without a trustworthy reading (output off, heater off, the supply
ramping itself to zero) and the failure is reported with every attempt's reason, so
the file says exactly what was not confirmed.
"""

from __future__ import annotations

import logging
from typing import Mapping

from .clock import Clock
from .pacing import CleanupPacer
from .role_list import SAFE_STATE_ORDER
from .roles import Role

SAFE_STATE_ATTEMPTS = 4
logger = logging.getLogger(__name__)
# Station-clock seconds waited before the 2nd, 3rd, ... attempt (an instrument that
# timed out gets time to recover; 7.5 s in all per role at worst on hardware).
SAFE_STATE_BACKOFF_S = (0.5, 2.0, 5.0)


def make_station_safe(roles: Mapping[str, Role], clock: Clock) -> list[str]:
    """Safe state of every role in `SAFE_STATE_ORDER`, then any others; never raises.

    Returns one line per role that could not be confirmed safe (empty: all safe).
    """
    pacer = CleanupPacer(clock)
    names = [name for name in SAFE_STATE_ORDER if name in roles]
    names += [name for name in roles if name not in SAFE_STATE_ORDER]
    failures = []
    for name in names:
        failure = _make_role_safe(name, roles[name], pacer)
        if failure:
            failures.append(failure)
    return failures


def _make_role_safe(name: str, role: Role, pacer: CleanupPacer) -> str | None:
    """Try the role's safe state with back-off; escalate if it never succeeds."""
    reasons = []
    for attempt in range(SAFE_STATE_ATTEMPTS):
        if attempt:
            _wait_quietly(pacer, SAFE_STATE_BACKOFF_S[min(attempt - 1, len(SAFE_STATE_BACKOFF_S) - 1)])
        try:
            role.safe_state(pacer)
            return None
        except Exception as error:  # any fault of the instrument: retried, never given up on at once
            reasons.append(f"{type(error).__name__}: {error}")
            logger.warning("safe state of %s, attempt %d of %d: %s", name, attempt + 1, SAFE_STATE_ATTEMPTS,
                           reasons[-1])
    try:
        done = role.emergency_stop()
    except Exception as error:
        done = f"emergency stop failed too ({type(error).__name__}: {error})"
    tries = f"{SAFE_STATE_ATTEMPTS} attempts"
    last = reasons[-1]
    earlier = ("" if all(reason == last for reason in reasons)
               else f" (earlier: {'; '.join(dict.fromkeys(reasons[:-1]))})")
    failure = f"{name}: NOT confirmed safe after {tries}: {last}{earlier}; {done}"
    logger.error("%s", failure)
    return failure


def _wait_quietly(pacer: CleanupPacer, seconds: float) -> None:
    try:
        pacer.wait(seconds)
    except Exception:  # a clock that fails must not end the retries early
        pass
