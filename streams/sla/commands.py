"""The SLA command topic (``<app id>-sla-commands``): the clock agent's one input, by case id.

Its writers: the routing agent (every routed contact, in the outbox that sends it to ROUTED,
so the worker never reads its own ROUTED output back: consuming every routed contact again,
parsing it for its case id and framing it anew cost 20-27% of the worker's CPU per contact),
``sla_rekey`` (lifecycle events, which any producer may write, re-keyed by case id) and the
replay driver (watermarks). Command layout: :mod:`streams.sla.clock`.
"""
from __future__ import annotations

from ..app import app
from ..packing import packed
from .clock import PARTITIONS, commands_topic

commands = packed(app.topic(commands_topic(app.conf.id), internal=True, partitions=PARTITIONS, key_type=bytes,
                            value_type=bytes))
