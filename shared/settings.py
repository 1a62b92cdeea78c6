"""The one settings object. Loaded once at an entry point and passed down.

Sources, strongest first: `RAGFLEET_*` environment variables, a `.env` file in
the current directory, the embedded stack's record (`<state_dir>/stack.json`,
written by `ragfleet up`) for the broker and database URLs, then defaults.
Nested sections use `__`: `RAGFLEET_TIERS__7B__ENDPOINTS=http://gpu1:11434`.
Nothing else in ragfleet reads the environment.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.errors import ConfigurationError
from shared.redact import redact_url

STACK_FILE = "stack.json"


class BrokerSettings(BaseModel):
    """Celery/kombu behaviour for long GPU tasks."""

    visibility_timeout_s: int = Field(default=7200, ge=5)
    """Redis redelivers an unacked message after this; keep it above the longest task."""
    max_redeliveries: int = Field(default=5, ge=1)
    """ragfleet's own cap: a message delivered more often than this is dead-lettered."""
    llm_prefetch_multiplier: int = Field(default=1, ge=1)


class WalkSettings(BaseModel):
    """How the producer walks a repository."""

    max_file_bytes: int = Field(default=1_000_000, ge=1)
    ignore_dirs: list[str] = Field(default_factory=lambda: [".git", ".hg", ".svn", "node_modules", ".venv"])


class ChunkSettings(BaseModel):
    """How files become spans."""

    window_lines: int = Field(default=60, ge=2)
    overlap_lines: int = Field(default=10, ge=0)


class RouterSettings(BaseModel):
    """Complexity thresholds that pick a span's start tier (a span at or above one goes higher)."""

    to_14b_lines: int = 80
    to_14b_nesting_depth: int = 5
    to_14b_branches: int = 15
    to_14b_tokens: int = 1500
    to_api_lines: int = 300
    to_api_tokens: int = 6000


def check_http_url(endpoint: str) -> None:
    """ValueError (naming the redacted URL) unless `endpoint` is an http(s)://host[:port] URL."""
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise ValueError(f"endpoint {redact_url(endpoint)!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"endpoint {redact_url(endpoint)!r} is not an http(s)://host[:port] URL")


class TierSettings(BaseModel):
    """One LLM tier: a protocol, a model and the hosts that serve it."""

    protocol: Literal["ollama", "openai"] = "ollama"
    model: str = ""
    endpoints: Annotated[list[str], NoDecode] = Field(default_factory=list)
    api_key: SecretStr | None = None
    context_tokens: int = Field(default=8192, ge=256)
    concurrency: int = Field(default=1, ge=1)
    """Parallel requests per endpoint: set it to the server's slots (e.g. OLLAMA_NUM_PARALLEL)."""
    queue_depth: int = Field(default=1, ge=0)
    """Requests kept waiting at each endpoint beyond its slots, so a slot never idles between two tasks
    (the worker runs (concurrency + queue_depth) × endpoints threads)."""
    timeout_s: float = Field(default=300.0, gt=0)
    """Read timeout of one request: a server that hangs longer counts as unavailable (retry, next host)."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    price_per_gpu_s: float = 0.0

    @field_validator("endpoints", mode="before")
    @classmethod
    def _split_endpoints(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("endpoints")
    @classmethod
    def _check_endpoints(cls, value: list[str]) -> list[str]:
        for endpoint in value:
            check_http_url(endpoint)
        return value

    @property
    def configured(self) -> bool:
        """True when the tier has somewhere to send requests."""
        return bool(self.endpoints and self.model)


class ApiTierSettings(TierSettings):
    """The `api` tier speaks the OpenAI protocol unless told otherwise."""

    protocol: Literal["ollama", "openai"] = "openai"


class TiersSettings(BaseModel):
    """The LLM tiers; a tier with no endpoints is skipped (with none at all, `static` stands)."""

    model_config = {"populate_by_name": True}

    t7b: TierSettings = Field(default_factory=TierSettings, alias="7b")
    t14b: TierSettings = Field(default_factory=TierSettings, alias="14b")
    api: ApiTierSettings = Field(default_factory=ApiTierSettings)

    def get(self, tier: str) -> TierSettings:
        """The settings of tier `7b`, `14b` or `api`."""
        return {"7b": self.t7b, "14b": self.t14b, "api": self.api}[tier]


DEFAULT_EMBED_ENDPOINTS = {
    "ollama": "http://127.0.0.1:11434",
    "openai": "http://127.0.0.1:8000/v1",
    "http": "http://127.0.0.1:8000/model/embed",
}


class EmbeddingSettings(BaseModel):
    """The embedder used by the embed workers and by search."""

    backend: Literal["sentence-transformers", "ollama", "openai", "http"] = "sentence-transformers"
    """`ollama`: /api/embed; `openai`: /v1/embeddings (vLLM, TEI, LM Studio, the OpenAI API); `http`: the generic
    endpoint (POST {"model", "texts"} -> {"embeddings"})."""
    model: str = "all-MiniLM-L6-v2"
    dim: int = 384
    device: str = "cpu"
    batch_size: int = Field(default=64, ge=1)
    flush_interval_s: float = Field(default=1.0, gt=0)
    """An embed worker calls the model when it holds `batch_size` spans or after this long."""
    max_batch_tokens: int = Field(default=32_768, ge=1)
    """A model call also stops at this many estimated tokens (4 characters each): long texts make smaller calls."""
    endpoint: str | None = None
    """Where an HTTP backend sends texts. `ollama`: the server (default http://127.0.0.1:11434); `openai`: the server
    or its /v1 (default http://127.0.0.1:8000/v1); `http`: the full URL (default http://127.0.0.1:8000/model/embed;
    the plain EMBED_ENDPOINT variable is read too, RAGFLEET_EMBEDDING__ENDPOINT wins)."""
    api_key: SecretStr | None = None
    """Sent as a bearer token by the HTTP backends; never logged."""
    timeout_s: float = Field(default=60.0, gt=0)
    """Read timeout of one embedding request (a whole batch)."""
    connect_timeout_s: float = Field(default=5.0, gt=0)
    rebuild_index_rows: int = Field(default=10_000, ge=1)
    """A write of at least this many vectors drops the HNSW index, loads, and rebuilds it (pgvector's advice for
    backfills: inserting into an HNSW index is far slower than building it later); smaller writes go straight in."""
    index_build_memory: str = Field(default="1GB", pattern=r"^[1-9][0-9]*(kB|MB|GB)$")
    """maintenance_work_mem for that rebuild (the HNSW graph must fit in it, or the build is ~3x slower)."""

    @field_validator("endpoint")
    @classmethod
    def _check_endpoint(cls, value: str | None) -> str | None:
        if value is not None:
            check_http_url(value)
        return value

    @property
    def resolved_endpoint(self) -> str:
        """The endpoint, or the backend's default."""
        return self.endpoint or DEFAULT_EMBED_ENDPOINTS.get(self.backend, "")


class TelemetrySettings(BaseModel):
    """GPU telemetry sampling by GPU-pinned workers."""

    interval_s: float = Field(default=5.0, gt=0)
    redis_ttl_s: int = Field(default=60, ge=1)
    history_days: int = Field(default=7, ge=1)
    vram_pause_pct: float | None = Field(default=97.0, gt=0, le=100)
    """A GPU-pinned worker stops taking tasks when framebuffer use reaches this (vLLM pre-allocates ~90%)."""
    vram_resume_pct: float | None = Field(default=92.0, gt=0, le=100)
    temp_pause_c: float | None = Field(default=85.0, gt=0)
    """... or when the GPU temperature reaches this; it resumes below the `*_resume_*` values."""
    temp_resume_c: float | None = Field(default=78.0, gt=0)
    prune_every_s: float = Field(default=3600.0, gt=0)
    nvml_module: str = "pynvml"
    """The module that provides NVML's functions (nvidia-ml-py's `pynvml`). Leave it: it exists for an
    alternative NVML binding with the same names, and for tests that run real workers on a fake NVML."""


class FlowerSettings(BaseModel):
    """Flower's basic auth; it refuses to start without it unless told --no-auth."""

    user: str = ""
    password: SecretStr | None = None
    port: int = 5555
    address: str = "127.0.0.1"
    max_tasks: int = Field(default=10_000, ge=100)
    """Tasks Flower keeps in memory."""


class Settings(BaseSettings):
    """Every setting of ragfleet (see the README's table)."""

    model_config = SettingsConfigDict(
        env_prefix="RAGFLEET_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    state_dir: Path = Path(".ragfleet")
    broker_url: str | None = None
    database_url: SecretStr | None = None
    log_level: str = "INFO"
    prompt_version: str = "v1"
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    walk: WalkSettings = Field(default_factory=WalkSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    router: RouterSettings = Field(default_factory=RouterSettings)
    tiers: TiersSettings = Field(default_factory=TiersSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    flower: FlowerSettings = Field(default_factory=FlowerSettings)
    embed_endpoint: str | None = Field(default=None, validation_alias="EMBED_ENDPOINT", exclude=True)
    """The plain EMBED_ENDPOINT variable, as the issue names it: fills `embedding.endpoint` when that is unset."""
    worker_gpu: str | None = None
    """The GPU this worker process is pinned to (an NVML index, a GPU-… or a MIG-… UUID): it samples that GPU's
    telemetry and applies back-pressure. `ragfleet worker --gpu G` sets it (to the UUID) together with
    CUDA_VISIBLE_DEVICES; with plain `celery -A workers worker`, set both yourself."""

    @model_validator(mode="after")
    def _plain_embed_endpoint(self) -> Settings:
        if self.embed_endpoint and self.embedding.endpoint is None:
            try:
                check_http_url(self.embed_endpoint)
            except ValueError as exc:
                raise ValueError(f"EMBED_ENDPOINT: {exc}") from None
            self.embedding = self.embedding.model_copy(update={"endpoint": self.embed_endpoint})
        return self

    @property
    def stack_file(self) -> Path:
        """Where `ragfleet up` records the embedded stack's URLs and processes."""
        return self.state_dir / STACK_FILE

    def require_broker_url(self) -> str:
        """The broker URL, or a ConfigurationError that says how to get one."""
        if not self.broker_url:
            raise ConfigurationError("no broker configured: run `ragfleet up` here, or set RAGFLEET_BROKER_URL")
        return self.broker_url

    def require_database_url(self) -> str:
        """The database URL, or a ConfigurationError that says how to get one."""
        if self.database_url is None:
            raise ConfigurationError("no database configured: run `ragfleet up` here, or set RAGFLEET_DATABASE_URL")
        return self.database_url.get_secret_value()


def read_settings(**overrides: object) -> Settings:
    """Settings from the environment only; a bad value is a ConfigurationError naming the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        # Name the setting and the reason only: the rejected value may be a secret.
        problems = "; ".join(
            f"RAGFLEET_{'__'.join(str(p) for p in e['loc']).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment, filled in from the embedded stack's record where unset."""
    settings = read_settings(**overrides)
    settings = settings.model_copy(update={"state_dir": settings.state_dir.expanduser().resolve()})
    if settings.broker_url and settings.database_url is not None:
        return settings
    stack = read_stack_record(settings.stack_file)
    update: dict[str, object] = {}
    if not settings.broker_url and stack.get("broker_url"):
        update["broker_url"] = stack["broker_url"]
    if settings.database_url is None and stack.get("database_url"):
        update["database_url"] = SecretStr(str(stack["database_url"]))
    return settings.model_copy(update=update) if update else settings


def read_stack_record(path: Path) -> dict[str, object]:
    """The embedded stack's record, or {} when there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path}: unreadable stack record ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigurationError(f"{path}: stack record is not a JSON object")
    return data
