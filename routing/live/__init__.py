"""Live state in Redis: slots, queues, the directory version, and the embedded server."""
