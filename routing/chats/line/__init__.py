"""LINE: its webhook, its messaging API, and a local fake of both for tests and drills."""
