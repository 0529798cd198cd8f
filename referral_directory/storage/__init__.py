"""Database plumbing: the engine, sessions and SQLite connections."""
