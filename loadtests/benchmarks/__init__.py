"""The benchmarks, each runnable alone (`.venv/bin/python -m loadtests.benchmarks.engine [--check]`, ...) or all
together with one table (`loadtests/bench [--quick]`, which runs `python -m loadtests.benchmarks.all`)."""
