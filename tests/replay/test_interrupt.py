"""``intake replay``'s Ctrl-C: a request the run honours between steps, not an exception anywhere."""
from __future__ import annotations

import os
import signal
import time

import pytest

from intake.replay import CtrlC


def ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.01)  # the handler runs in the main thread at its next bytecode


def test_the_first_ctrl_c_is_held_until_the_run_checks_and_a_second_one_interrupts_at_once() -> None:
    before = signal.getsignal(signal.SIGINT)
    with CtrlC() as pressed:
        pressed.check()  # nothing yet
        ctrl_c()  # inside confluent-kafka's produce a KeyboardInterrupt here came out as a TypeError
        assert pressed.pressed
        with pytest.raises(KeyboardInterrupt):
            pressed.check()
        with pytest.raises(KeyboardInterrupt):
            ctrl_c()
    assert signal.getsignal(signal.SIGINT) is before
