import psycopg

from tests.postgres.cluster import Cluster


def test_the_suite_starts_postgresql_18_with_pgvector_0_8(postgres_cluster: Cluster) -> None:
    with psycopg.connect(postgres_cluster.url) as connection:
        row = connection.execute(
            "SELECT current_setting('server_version_num')::int, extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    assert row is not None
    server_version, vector_version = row
    assert server_version >= 180000
    assert tuple(int(part) for part in vector_version.split(".")) >= (0, 8, 0)
