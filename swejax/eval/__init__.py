"""Evaluation: Pass@1 +- s.e. and Pass@k over N runs on held-out tasks, and `swejax eval`."""
