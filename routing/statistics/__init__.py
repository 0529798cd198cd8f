"""Statistics with small cells suppressed, and their API."""
