"""The surge drill: tsunagu under a 年末年始 or May surge on a compressed clock, driven by Locust, judged by gates.

Run it with `.venv/bin/python -m loadtests.surge --shape newyear|may ...` (loadtests/surge/drill.py);
the Locust users and shape are in loadtests/surge/users.py, loaded through loadtests/locustfile.py.
"""
