"""What the benchmarks and the surge drill start: redis-server and tsunagu (servers), a PostgreSQL cluster (pg_cluster),
the baseline FastAPI app (trivial_app), and the load generators (install_tools)."""
