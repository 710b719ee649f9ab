"""The live wallboard: KPI queries, their brute-force audit, and the HTTP app that pushes them."""
