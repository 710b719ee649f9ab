"""The clock state machine: commands in, SLA / escalation events out. Pure and synchronous.

The Faust layer (:mod:`streams.sla.agents`) owns I/O; this module decides. Every event
gets a deterministic id (case, clock, cycle, status, detail), so an event re-emitted after
a crash (sent, but the state write was lost) collapses downstream.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from schemas.envelope import stable_event_id
from schemas.escalation import Escalation
from schemas.lifecycle import Lifecycle
from schemas.routed import DedupVerdict, RoutedContact
from schemas.sla import Sla, SlaClock, SlaStatus

from .policy import PolicySet
from .state import CaseState, ClockState


@dataclass(frozen=True, slots=True)
class Emit:
    event_id: str
    payload: Sla | Escalation


@dataclass(slots=True)
class Result:
    state: CaseState | None
    emits: list[Emit] = field(default_factory=list)
    #: (due instant, clock) pairs set by this step: the caller adds them to its due index.
    scheduled: list[tuple[float, str]] = field(default_factory=list)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


class ClockEngine:
    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        self.policy = policies.policy

    # ---- commands -------------------------------------------------------------------
    def on_contact(self, state: CaseState | None, routed: RoutedContact, command_id: str, at: float) -> Result:
        """A routed contact: opens the clocks of a new case, or is the customer coming back."""
        if routed.dedup == DedupVerdict.NOT_A_CONTACT:
            return Result(state)
        if state is None:
            state = CaseState(case_id=routed.case_id, channel=str(routed.contact.channel), category=routed.category,
                              phase=routed.phase, severity=routed.severity, segment=routed.segment,
                              queue=routed.queue, tier=routed.tier)
            trigger = DedupVerdict.NEW_CASE.value  # a case the clocks never saw starts its clocks
        else:
            trigger = routed.dedup.value
        result = Result(state)
        if not state.remember(command_id):
            return result
        state.queue = routed.queue
        state.tier = max(state.tier, routed.tier)
        state.segment = routed.segment
        if trigger in self.policy.resume_on:
            self._resume_all(state, at, result)
        self._start(state, trigger, at, result)
        return result

    def on_lifecycle(self, state: CaseState | None, event: Lifecycle, command_id: str) -> Result:
        """A desk transition: stops, pauses, resumes or (re)starts clocks."""
        result = Result(state)
        if state is None or not state.remember(command_id):
            return result
        action, at = event.action.value, event.at.timestamp()
        if event.queue:
            state.queue = event.queue
        if event.tier:
            state.tier = event.tier
        for name, spec in self.policy.clocks.items():
            clock = state.clocks.get(name)
            if clock is not None and clock.open and action in spec.stop_on:
                self._stop(state, clock, at, result)
        if action in self.policy.pause_on:
            state.waiting = True
            for clock in state.clocks.values():
                if clock.status == "running" and self.policy.clocks[clock.clock].pausable:
                    self._pause(state, clock, at, result)
        if action in self.policy.resume_on:
            self._resume_all(state, at, result)
        self._start(state, action, at, result)
        return result

    def fire(self, state: CaseState, now: float) -> Result:
        """Announce every warning / breach due by ``now``; after downtime only the latest one."""
        result = Result(state)
        for clock in state.clocks.values():
            if clock.status != "running" or clock.due is None or clock.due > now:
                continue
            reached, at = clock.fired, clock.due
            while clock.due is not None and clock.due <= now:
                reached, at = clock.due_fraction or 1.0, clock.due
                clock.fired = reached
                self._schedule_next(clock, result)
            if reached >= 1.0:
                clock.status = "breached"
                self._emit(state, clock, SlaStatus.BREACHED, at, result)
                self._escalate(state, clock, result)
            else:
                self._emit(state, clock, SlaStatus.WARNING, at, result, fraction=reached)
        return result

    def fire_through(self, state: CaseState, until: float) -> Result:
        """Event time: announce every warning / breach due by ``until``, one point at a time.

        The stream passed each point in turn (nothing was down), so every warning is
        announced, exactly as a wall-clock worker ticking in real time would have done.
        """
        result = Result(state)
        while True:
            dues = [c.due for c in state.clocks.values() if c.status == "running" and c.due is not None
                    and c.due <= until]
            if not dues:
                return result
            step = self.fire(state, min(dues))
            result.emits.extend(step.emits)
            result.scheduled.extend(step.scheduled)

    # ---- transitions ----------------------------------------------------------------
    def _start(self, state: CaseState, trigger: str, at: float, result: Result) -> None:
        for name, spec in self.policy.clocks.items():
            if trigger not in spec.start_on:
                continue
            previous = state.clocks.get(name)
            if previous is not None and (previous.open or trigger == DedupVerdict.NEW_CASE.value):
                continue
            if any(state.clocks.get(o) is not None and state.clocks[o].open for o in spec.unless_open):
                continue
            target = self.policies.target(name, state.attrs())
            if target is None:
                continue
            calendar = self.policies.calendars[target.calendar]
            clock = ClockState(clock=name, cycle=previous.cycle + 1 if previous else 1, target=target.seconds,
                               calendar=target.calendar, rule=target.rule, warn_at=target.warn_at, started_at=at,
                               running_since=at, deadline=calendar.add(at, target.seconds))
            state.clocks[name] = clock
            self._schedule_next(clock, result)
            self._emit(state, clock, SlaStatus.STARTED, at, result)
            if state.waiting and spec.pausable:
                self._pause(state, clock, at, result)

    def _stop(self, state: CaseState, clock: ClockState, at: float, result: Result) -> None:
        elapsed = self._elapsed(clock, at)
        clock.elapsed, clock.running_since, clock.due, clock.due_fraction = elapsed, None, None, None
        clock.status = "met" if elapsed <= clock.target else "stopped_late"
        self._emit(state, clock, SlaStatus(clock.status), at, result)

    def _pause(self, state: CaseState, clock: ClockState, at: float, result: Result) -> None:
        clock.elapsed = self._elapsed(clock, at)
        clock.running_since, clock.due, clock.due_fraction = None, None, None
        clock.status = "paused"
        clock.pauses += 1
        self._emit(state, clock, SlaStatus.PAUSED, at, result, detail=str(clock.pauses))

    def _resume_all(self, state: CaseState, at: float, result: Result) -> None:
        state.waiting = False
        for clock in state.clocks.values():
            if clock.status != "paused":
                continue
            calendar = self.policies.calendars[clock.calendar]
            clock.status, clock.running_since = "running", at
            clock.deadline = calendar.add(at, clock.target - clock.elapsed)
            self._schedule_next(clock, result)
            self._emit(state, clock, SlaStatus.RESUMED, at, result, detail=str(clock.pauses))

    def _escalate(self, state: CaseState, clock: ClockState, result: Result) -> None:
        rule = self.policy.escalation
        if clock.clock not in rule.on_breach_of or state.tier >= rule.max_tier:
            return
        to_tier = min(state.tier + rule.step, rule.max_tier)
        payload = Escalation(case_id=state.case_id, from_tier=state.tier, to_tier=to_tier, queue=state.queue,
                             trigger="sla", reason=f"SLA breach of {clock.clock} (target {clock.target:g} s, "
                                                   f"rule {clock.rule})")
        state.tier = to_tier
        result.emits.append(Emit(stable_event_id(state.case_id, clock.clock, str(clock.cycle), "escalation"), payload))

    # ---- helpers --------------------------------------------------------------------
    def _elapsed(self, clock: ClockState, at: float) -> float:
        if clock.running_since is None:
            return clock.elapsed
        return clock.elapsed + self.policies.calendars[clock.calendar].between(clock.running_since, at)

    def _schedule_next(self, clock: ClockState, result: Result) -> None:
        """Point ``due`` at the next unannounced fraction of a running clock."""
        pending = [f for f in (*clock.warn_at, 1.0) if f > clock.fired]
        if clock.running_since is None or not pending:
            clock.due = clock.due_fraction = None
            return
        fraction = pending[0]
        calendar = self.policies.calendars[clock.calendar]
        clock.due = calendar.add(clock.running_since, fraction * clock.target - clock.elapsed)
        clock.due_fraction = fraction
        result.scheduled.append((clock.due, clock.clock))

    def _emit(self, state: CaseState, clock: ClockState, status: SlaStatus, at: float, result: Result,
              fraction: float | None = None, detail: str = "") -> None:
        if fraction is not None:
            detail = f"{fraction:g}"
        payload = Sla(case_id=state.case_id, clock=SlaClock(clock.clock), status=status, at=_dt(at),
                      started_at=_dt(clock.started_at), deadline=_dt(clock.deadline), target_seconds=clock.target,
                      elapsed_business_seconds=round(self._elapsed(clock, at), 3), fraction=fraction,
                      queue=state.queue, channel=state.channel, category=state.category, severity=state.severity,
                      segment=state.segment, policy=clock.rule)
        event_id = stable_event_id(state.case_id, clock.clock, str(clock.cycle), status.value, detail)
        result.emits.append(Emit(event_id, payload))
