"""Check an SLA policy file before deploying it: ``python -m streams.sla FILE [CLOCK key=value ...]``.

Prints the validation errors (exit 1), or which rule, target and calendar each clock gets for
the case attributes given, e.g. ``python -m streams.sla my.yaml channel=chat segment=vip``.
"""
from __future__ import annotations

import sys

from .policy import PolicyError, PolicySet, load_policy


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if argv else 2
    try:
        policies = PolicySet(load_policy(argv[0]))
    except PolicyError as exc:
        print(exc, file=sys.stderr)
        return 1
    attrs: dict[str, object] = {}
    for pair in argv[1:]:
        key, _, value = pair.partition("=")
        attrs[key] = int(value) if key == "severity" else value
    print(f"{argv[0]}: valid (version {policies.policy.version})")
    for clock in policies.policy.clocks:
        target = policies.target(clock, attrs)
        print(f"  {clock:<22} " + (f"{target.seconds:>10g} s  calendar {target.calendar:<12} rule {target.rule}"
                                   if target else "no clock"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
