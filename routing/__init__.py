"""The tsunagu routing service: app, engine, live state, CLI."""
