"""SLA clocks: policy (YAML presets), business calendars, the clock state machine and its Faust agents.

Import :mod:`streams.sla.agents` to register the agents on the worker's app; the other
modules are pure and usable without a broker (tests, benchmarks).
"""
