"""Locust's entry point for tsunagu's surge drill: the users and the shape, from loadtests/surge/users.py and chat_users.py.

Run by `python -m loadtests.surge` (with loadtests/locust.conf); for a distributed run, from the
repository root: `locust -f loadtests/locustfile.py --master ...`. Locust puts its working directory
on the import path, so run it from the repository root.
"""

from loadtests.surge.chat_users import ChatCounsellor, LinePerson
from loadtests.surge.users import Caller, Counsellor, SurgeShape

__all__ = ["Caller", "ChatCounsellor", "Counsellor", "LinePerson", "SurgeShape"]
