"""The PostgreSQL + pgvector store for teams (optional extra `postgres`). Imported only when chosen."""
