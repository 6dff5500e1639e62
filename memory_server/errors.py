"""The exception tree. Every message says what happened and what to do next.

MemoryServerError
├── ConfigError            settings are invalid or contradictory
├── StoreError             the database cannot be used
│   ├── WrongKeyError      the key does not open the file (or it is not a database)
│   ├── SchemaError        the schema is newer than this program, or a migration failed
│   ├── ModelMismatchError the database was embedded with another model
│   └── StoreBusyError     another process held the write lock for too long
├── EmbeddingError         the embedding model could not be loaded
└── InvalidInputError      a caller's argument is wrong (the tools turn it into a ToolError)
    ├── NotFoundError      an id that does not exist for this user
    └── RefusedContentError content that must not be stored (secrets)
"""


class MemoryServerError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(MemoryServerError):
    pass


class StoreError(MemoryServerError):
    pass


class WrongKeyError(StoreError):
    pass


class SchemaError(StoreError):
    pass


class ModelMismatchError(StoreError):
    pass


class StoreBusyError(StoreError):
    pass


class EmbeddingError(MemoryServerError):
    pass


class InvalidInputError(MemoryServerError):
    pass


class NotFoundError(InvalidInputError):
    pass


class RefusedContentError(InvalidInputError):
    pass
