"""Typed settings, loaded once at the edge: defaults < config file < environment < flags.

Nothing here runs at import time. `load_settings` is the only function that reads the
environment or the file system; everything else receives a `Settings`.
"""

from __future__ import annotations

import getpass
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from memory_server.errors import ConfigError

APP_NAME = "memory-server"
ENV_PREFIX = "MEMORY_SERVER_"
USER_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$"
DEFAULT_MODEL = "all-MiniLM-L6-v2"

# Short environment names for the settings people change most; every other setting is
# reachable as MEMORY_SERVER_<SECTION>__<FIELD> (e.g. MEMORY_SERVER_RANKING__HALF_LIFE_DAYS).
ENV_SHORTCUTS: dict[str, tuple[str, ...]] = {
    "DB": ("store", "path"),
    "KEY_FILE": ("store", "key_file"),
    "USER": ("user",),
    "MODEL": ("embeddings", "model"),
    "LOG_LEVEL": ("log_level",),
    "MULTI_USER": ("multi_user",),
}


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreSettings(_Section):
    path: Path | None = Field(None, description="Database file; default <data dir>/memory.db")
    key_file: Path | None = Field(None, description="Key file; default <config dir>/memory.key")
    busy_timeout_ms: int = Field(5_000, ge=100, le=600_000)
    write_attempts: int = Field(4, ge=1, le=20, description="Tries to take the write lock before failing")
    synchronous: Literal["FULL", "NORMAL"] = "FULL"
    cache_mib: int = Field(64, ge=2, le=4_096, description="Page cache per process (decrypted pages)")
    vector_cache_mib: int = Field(
        128,
        ge=0,
        le=65_536,
        description="Fact vectors a server keeps in memory for search; 0 = scan the file each time",
    )
    deferred_flush_ms: int = Field(
        1_000, ge=10, le=60_000, description="Use counts and served-facts audit rows wait at most this long"
    )


class EmbeddingSettings(_Section):
    model: str = Field(DEFAULT_MODEL, description="Model name or a local sentence-transformers folder")
    dimension: int = Field(384, ge=8, le=4096)
    backend: Literal["onnx", "torch"] = Field(
        "onnx", description="onnx: ONNX Runtime on a graph exported once from the model; torch: sentence-transformers"
    )
    cache_dir: Path | None = Field(None, description="Where exported graphs live; default <user cache dir>")
    threads: int = Field(1, ge=1, le=64, description="Encoder threads per server process")
    batch_threads: int = Field(0, ge=0, le=64, description="Encoder threads for import and reindex; 0 = every core")
    device: str = Field("cpu", description="torch backend only")
    preload: bool = Field(True, description="Load the model in the background soon after the server starts")
    preload_delay_seconds: float = Field(
        0.2, ge=0, le=60, description="Wait this long first, so the handshake does not compete with the load"
    )

    @property
    def graph_cache(self) -> Path:
        """Exported graphs, keyed by model id and weights hash (see `embeddings.graph`)."""
        base = self.cache_dir or Path(platformdirs.user_cache_dir(APP_NAME))
        return base.expanduser() / "models"


class FactSettings(_Section):
    max_content_bytes: int = Field(8_192, ge=64, le=1_000_000)
    max_tags: int = Field(20, ge=0, le=200)
    max_tag_chars: int = Field(64, ge=1, le=256)
    max_category_chars: int = Field(64, ge=1, le=256)
    duplicate_similarity: float = Field(0.92, ge=0.5, le=1.0)
    max_ttl_days: float = Field(36_500, gt=0)
    forget_query_similarity: float = Field(0.55, ge=0.0, le=1.0)
    max_results: int = Field(50, ge=1, le=500)
    max_query_bytes: int = Field(2_000, ge=64, le=100_000, description="Longest search or forget query")


class RankingSettings(_Section):
    """How search and context order facts. Tuned on bench/data/retrieval_set.json."""

    candidates: int = Field(60, ge=5, le=1_000, description="Neighbours taken from each retriever")
    keyword_weight: float = Field(1.2, ge=0, description="Boost for a fact holding all the query's words")
    keyword_sharpness: float = Field(4.0, ge=1, le=16, description="Power on keyword coverage")
    relevance_weight: float = Field(1.0, ge=0)
    importance_weight: float = Field(0.02, ge=0)
    recency_weight: float = Field(0.005, ge=0)
    use_weight: float = Field(0.003, ge=0)
    half_life_days: float = Field(30.0, gt=0)


class ContextSettings(_Section):
    default_max_tokens: int = Field(800, ge=50, le=32_000)
    max_tokens: int = Field(8_000, ge=50, le=200_000)


class SweepSettings(_Section):
    interval_minutes: float = Field(60.0, gt=0)


class CheckpointSettings(_Section):
    """Checkpoints of a thread's task state (save_checkpoint / restore_checkpoint)."""

    max_state_bytes: int = Field(262_144, ge=1_024, le=16_777_216, description="Largest state, as canonical JSON")
    # The MCP SDK cannot serialize an answer nested much deeper than 250 levels.
    max_state_depth: int = Field(64, ge=2, le=200, description="Deepest nesting of objects and arrays in a state")
    keep_per_thread: int = Field(20, ge=1, le=10_000, description="Newest checkpoints kept per thread")
    ttl_days: float = Field(30.0, gt=0, description="A thread is deleted this long after its last checkpoint")
    max_thread_id_chars: int = Field(128, ge=8, le=512)
    max_label_chars: int = Field(200, ge=1, le=4_000)
    max_list: int = Field(100, ge=1, le=10_000, description="Most checkpoints one list_checkpoints answer holds")


class AuditSettings(_Section):
    """The tool-call audit (record_tool_call) and its per-session run totals."""

    max_output_chars: int = Field(2_000, ge=64, le=1_000_000, description="Longer outputs keep a head, length, hash")
    max_input_chars: int = Field(4_000, ge=64, le=1_000_000, description="Longer inputs keep a head, length, hash")
    max_tool_name_chars: int = Field(128, ge=8, le=512)
    max_payload_chars: int = Field(
        4_000_000, ge=1_024, le=64_000_000, description="Larger inputs or outputs are refused, not truncated"
    )
    resource_calls: int = Field(50, ge=1, le=10_000, description="Latest calls shown by the audit resource")


class SessionSettings(_Section):
    """Conversation sessions: lifetime, size limits, the context window and summaries."""

    ttl_hours: float = Field(720.0, gt=0, description="A session expires after this long without activity")
    max_ttl_hours: float = Field(87_600.0, gt=0, description="Largest ttl_hours a caller may ask for")
    max_messages_per_call: int = Field(500, ge=1, le=100_000)
    max_messages_per_session: int = Field(50_000, ge=1, le=10_000_000)
    max_message_bytes: int = Field(65_536, ge=64, le=10_000_000)
    max_name_chars: int = Field(64, ge=1, le=256, description="Tool name of a message, and agent_name")
    max_summary_bytes: int = Field(16_384, ge=256, le=1_000_000, description="Host-written summary size limit")
    summarize_after_tokens: int = Field(6_000, ge=100, description="should_summarize past this many unsummarized")
    default_window_messages: int = Field(20, ge=1, le=10_000)
    max_window_messages: int = Field(500, ge=1, le=10_000)
    summary_max_tokens: int = Field(400, ge=50, le=8_000, description="Length asked of the host model's summary")
    summary_max_sentences: int = Field(2_000, ge=10, le=100_000, description="Sentences the local summarizer weighs")
    use_sampling: bool = Field(True, description="Ask the host's model for a summary when the host can sample")
    sampling_max_input_tokens: int = Field(24_000, ge=100, description="Longer transcripts are summarized locally")
    max_list: int = Field(200, ge=1, le=10_000, description="Sessions listed at most at once")


class SummarySettings(_Section):
    """The local summary's size, and consolidation: what the turns it folds leave in long-term facts."""

    share: float = Field(0.25, gt=0, le=1, description="A local summary is this share of the tokens it covers")
    min_tokens: int = Field(80, ge=20, le=32_000, description="Floor of a local summary's budget")
    max_tokens: int = Field(2_000, ge=50, le=32_000, description="Cap of a local summary's budget")
    consolidate: bool = Field(True, description="Remember the people's first-person statements as facts")
    fact_share: float = Field(
        0.4, gt=0, le=1, description="Consolidated facts hold at most this share of the folded turns' words"
    )
    fact_importance: float = Field(0.3, ge=0, le=1, description="Importance of a consolidated fact")
    fact_category: str = Field("conversation", min_length=1, max_length=64, description="Category of those facts")


ContactPolicy = Literal["keep", "redact", "refuse"]


class PrivacySettings(_Section):
    """What happens to email addresses and phone numbers, per layer (secrets are always refused)."""

    facts: ContactPolicy = Field("keep", description="The user asked to be remembered: keep them")
    sessions: ContactPolicy = Field("keep", description="Conversation messages and summaries")
    checkpoints: ContactPolicy = Field("redact", description="Checkpoint states and labels")
    tool_calls: ContactPolicy = Field("redact", description="Recorded tool-call inputs and outputs")


class HttpSettings(_Section):
    """`memory-server serve --transport http`: streamable HTTP on a loopback port, behind a bearer token."""

    host: str = Field("127.0.0.1", description="Loopback address to listen on (127.0.0.1, ::1 or localhost)")
    port: int = Field(8765, ge=1, le=65_535)
    token_file: Path | None = Field(None, description="Bearer token file; default <config dir>/http.token")


class Settings(BaseModel):
    """Every setting of the server. `config.example.toml` documents each one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = Field(default_factory=lambda: _default_user())
    home: Path | None = Field(None, description="One folder for the database and key (tests, portable use)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    multi_user: bool = Field(False, description="Every tool takes a user_id instead of acting for `user`")
    passphrase: SecretStr | None = Field(None, exclude=True)
    store: StoreSettings = StoreSettings()
    embeddings: EmbeddingSettings = EmbeddingSettings()
    facts: FactSettings = FactSettings()
    ranking: RankingSettings = RankingSettings()
    context: ContextSettings = ContextSettings()
    sweep: SweepSettings = SweepSettings()
    checkpoints: CheckpointSettings = CheckpointSettings()
    audit: AuditSettings = AuditSettings()
    sessions: SessionSettings = SessionSettings()
    summaries: SummarySettings = SummarySettings()
    http: HttpSettings = HttpSettings()
    privacy: PrivacySettings = PrivacySettings()

    @field_validator("user")
    @classmethod
    def _user_is_an_identifier(cls, value: str) -> str:
        if not re.fullmatch(USER_ID_PATTERN, value):
            raise ValueError(
                "user must be 1-64 characters of letters, digits, '.', '_', '@' or '-', starting with a letter or digit"
            )
        return value

    @property
    def database_path(self) -> Path:
        if self.store.path is not None:
            return self.store.path.expanduser()
        base = self.home or Path(platformdirs.user_data_dir(APP_NAME))
        return base.expanduser() / "memory.db"

    @property
    def key_file_path(self) -> Path:
        if self.store.key_file is not None:
            return self.store.key_file.expanduser()
        base = self.home or Path(platformdirs.user_config_dir(APP_NAME))
        return base.expanduser() / "memory.key"


def _default_user() -> str:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        return "default"
    name = re.sub(r"[^A-Za-z0-9._@-]", "_", name)[:64]
    return name if re.fullmatch(USER_ID_PATTERN, name) else "default"


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def load_settings(
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build the settings: defaults, then the TOML file, then the environment, then flags.

    `overrides` uses dotted keys for sections (`{"store.path": ...}`); `None` values are
    ignored, so CLI flags that were not given change nothing.
    """
    env = os.environ if env is None else env
    data: dict[str, Any] = {}

    path = config_file or _path_or_none(env.get(ENV_PREFIX + "CONFIG"))
    if path is None and default_config_path().is_file():
        path = default_config_path()
    if path is not None:
        _merge(data, _read_toml(path))

    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or name in (ENV_PREFIX + "CONFIG", ENV_PREFIX + "PASSPHRASE"):
            continue
        key = name.removeprefix(ENV_PREFIX)
        if key in ENV_SHORTCUTS:
            _set(data, ENV_SHORTCUTS[key], value)
        elif key == "HOME":
            data["home"] = value
        elif "__" in key:
            _set(data, tuple(part.lower() for part in key.split("__")), value)
    if passphrase := env.get(ENV_PREFIX + "PASSPHRASE"):
        data["passphrase"] = passphrase

    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set(data, tuple(dotted.split(".")), value)

    try:
        return Settings.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in error.errors())
        source = f" (config file {path})" if path else ""
        raise ConfigError(f"Invalid settings{source}: {problems}. Fix them, or see config.example.toml.") from None


def _path_or_none(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.expanduser().open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"Config file {path} does not exist. Create it from config.example.toml.") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"Config file {path} is not valid TOML: {error}.") from None


def _set(data: dict[str, Any], keys: tuple[str, ...], value: Any) -> None:
    for key in keys[:-1]:
        data = data.setdefault(key, {})
        if not isinstance(data, dict):
            raise ConfigError(f"Setting {'.'.join(keys)} conflicts with a value set for {key}.")
    data[keys[-1]] = value


def _merge(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = dict(value) if isinstance(value, Mapping) else value
