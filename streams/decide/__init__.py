"""Pure decision functions of the routing agents: no Kafka, no Faust, no clocks.

Everything here takes a contact (and, for case matching, the customer's state) and the
compiled rules, and returns verdicts with their reasons, so it is unit- and
property-testable and the agents stay thin wiring.
"""
