"""The keys of the `meta` table, named once: the store records the embedding model under them
and `reindex` keeps its progress under them."""

from __future__ import annotations

EMBEDDING_MODEL = "embedding_model"
EMBEDDING_DIMENSION = "embedding_dimension"
CREATED_AT = "created_at"
REINDEX_TARGET_MODEL = "reindex_target_model"
REINDEX_TARGET_DIMENSION = "reindex_target_dimension"
REINDEX_LAST_ID = "reindex_last_id"
REINDEX_KEYS = (REINDEX_TARGET_MODEL, REINDEX_TARGET_DIMENSION, REINDEX_LAST_ID)
"""A run in progress: present from the first batch until the last one is written."""
VECTOR_LOG_FLOOR = "vector_log_floor"
"""The newest `vector_log` row pruned: an in-memory index that saw less reloads (see store/vectors.py)."""
