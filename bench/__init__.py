"""Performance benchmark: our outstation next to a reference stack (c104.Server, lib60870-C),
measured in the same run by the same raw-socket master. Run ``python -m bench [--quick]``;
docs/performance.md explains every figure. A benchmark, not a test, and never shipped."""
