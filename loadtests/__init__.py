"""tsunagu's load tests: the benchmarks (loadtests/bench), the Locust surge drill (python -m loadtests.surge) and their harness.

Run from the repository root, where `loadtests` is importable: `.venv/bin/python -m loadtests.surge --smoke`.
"""
