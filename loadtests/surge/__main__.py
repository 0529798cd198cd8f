"""The surge drill's command:   .venv/bin/python -m loadtests.surge --shape newyear|may [...] (see loadtests/surge/drill.py)."""

import sys

from loadtests.surge.drill import main

sys.exit(main())
