"""Feature-store fixtures: the real Redis (Feast's online store in the cluster) and PostgreSQL
(its SQL registry) servers of tests/stores_testkit.py."""

from stores_testkit import postgres_database, postgres_server, redis_server, redis_store  # noqa: F401
