"""The one Settings object. Nothing else in the app reads ``os.environ``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class Settings(BaseSettings):
    """Every knob of BigQuery-Lite, read from the environment (or a `.env` file).

    Defaults serve a single user on localhost.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Literal["production", "development"] = Field("production", alias="ENVIRONMENT")
    log_level: str = Field("INFO", alias="LOG_LEVEL")

    data_dir: Path = Field(Path("data"), alias="BQLITE_DATA_DIR")
    host: str = Field("127.0.0.1", alias="BQLITE_HOST")
    api_port: int = Field(8000, alias="BQLITE_API_PORT")
    ui_port: int = Field(3000, alias="BQLITE_UI_PORT")
    cors_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:3000", "http://localhost:3000"], alias="BQLITE_CORS_ORIGINS"
    )

    # The sandbox: directories whose files DuckDB queries may read (a JSON list; empty means no file access at all).
    allowed_directories: list[Path] = Field(default_factory=list, alias="BQLITE_ALLOWED_DIRECTORIES")

    # Identity and access (docs/security.md). Off: everyone is the built-in admin "local", as on a laptop.
    auth: Literal["off", "on"] = Field("off", alias="BQLITE_AUTH")
    secret_key: SecretStr | None = Field(None, alias="BQLITE_SECRET_KEY")
    token_ttl_s: int = Field(43200, ge=60, le=30 * 86400, alias="BQLITE_TOKEN_TTL_S")
    admin_user: str = Field("admin", alias="BQLITE_ADMIN_USER")
    admin_password: SecretStr | None = Field(None, alias="BQLITE_ADMIN_PASSWORD")
    default_grants: dict[str, Literal["reader", "writer", "owner"]] = Field(
        default_factory=lambda: {"default": "reader"}, alias="BQLITE_DEFAULT_GRANTS")
    rate_limit: str = Field("120/minute", alias="BQLITE_RATE_LIMIT")
    redis_url: str | None = Field(None, alias="BQLITE_REDIS_URL")
    user_max_running: int = Field(4, ge=1, alias="BQLITE_USER_MAX_RUNNING")
    user_daily_bytes: int | None = Field(None, ge=0, alias="BQLITE_USER_DAILY_BYTES")

    # Scheduling.
    max_concurrent_jobs: int = Field(4, ge=1, le=64, alias="MAX_CONCURRENT_JOBS")
    total_slots: int = Field(10, ge=1, le=1000, alias="BQLITE_TOTAL_SLOTS")
    duckdb_capacity: int = Field(4, ge=1, alias="BQLITE_DUCKDB_CAPACITY")
    clickhouse_capacity: int = Field(2, ge=1, alias="BQLITE_CLICKHOUSE_CAPACITY")
    # A waiting job gains one priority level per this many seconds, so batch jobs never starve.
    aging_interval_s: float = Field(30.0, gt=0, alias="BQLITE_AGING_INTERVAL_S")
    default_timeout_s: int = Field(300, ge=1, le=86400, alias="BQLITE_DEFAULT_TIMEOUT_S")

    # Resource limits for query execution.
    query_memory_limit: str = Field("4GB", alias="BQLITE_QUERY_MEMORY_LIMIT")
    max_sql_bytes: int = Field(1_000_000, alias="BQLITE_MAX_SQL_BYTES")
    max_ingest_bytes: int = Field(4 * 1024**3, alias="BQLITE_MAX_INGEST_BYTES")
    # One uploaded .proto file or descriptor set, in the REST schema routes and the UI's Register form.
    max_proto_bytes: int = Field(10 * 1024**2, ge=1, alias="BQLITE_MAX_PROTO_BYTES")
    # Recursive protobuf messages are expanded this deep; below it a value is stored as JSON text.
    proto_max_depth: int = Field(6, ge=1, le=32, alias="BQLITE_PROTO_MAX_DEPTH")

    # Results.
    result_ttl_s: int = Field(24 * 3600, ge=1, alias="BQLITE_RESULT_TTL_S")
    result_cleanup_interval_s: int = Field(600, ge=1, alias="BQLITE_RESULT_CLEANUP_INTERVAL_S")
    result_cache_ttl_s: int = Field(300, ge=0, alias="BQLITE_RESULT_CACHE_TTL_S")
    result_cache_max_bytes: int = Field(256 * 1024**2, ge=0, alias="BQLITE_RESULT_CACHE_MAX_BYTES")

    # ClickHouse: embedded chdb unless a host is given (docs/clickhouse.md).
    clickhouse_host: str | None = Field(None, alias="CLICKHOUSE_HOST")
    clickhouse_port: int = Field(8123, ge=1, le=65535, alias="CLICKHOUSE_PORT")
    clickhouse_user: str = Field("default", alias="CLICKHOUSE_USER")
    clickhouse_password: SecretStr = Field(SecretStr(""), alias="CLICKHOUSE_PASSWORD")
    clickhouse_secure: bool = Field(False, alias="CLICKHOUSE_SECURE")
    clickhouse_ca_file: Path | None = Field(None, alias="CLICKHOUSE_CA_FILE")
    clickhouse_verify: bool = Field(True, alias="CLICKHOUSE_VERIFY")
    clickhouse_connect_timeout_s: float = Field(10.0, gt=0, le=600, alias="CLICKHOUSE_CONNECT_TIMEOUT_S")
    # How long a response may stay silent; above the longest query's time limit, or the socket gives up first.
    clickhouse_send_receive_timeout_s: float = Field(
        600.0, gt=0, le=86400 * 2, alias="CLICKHOUSE_SEND_RECEIVE_TIMEOUT_S")
    clickhouse_read_attempts: int = Field(3, ge=1, le=10, alias="CLICKHOUSE_READ_ATTEMPTS")
    # Written into every cluster statement, so a plain name only (the engine checks it again).
    clickhouse_cluster: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$",
                                           alias="CLICKHOUSE_CLUSTER")

    # BigQuery's own API (docs/bigquery.md): the engine its jobs and table reads use, and the port of its Storage
    # Read API (gRPC, Arrow; 0 turns it off).
    bigquery_engine: Literal["duckdb", "clickhouse"] = Field("duckdb", alias="BQLITE_BIGQUERY_ENGINE")
    storage_port: int = Field(8001, ge=0, le=65535, alias="BQLITE_STORAGE_PORT")

    # Sample data.
    sample_rows: int = Field(1_000_000, ge=0, alias="BQLITE_SAMPLE_ROWS")
    sample_seed: int = Field(42, alias="BQLITE_SAMPLE_SEED")

    @property
    def db_path(self) -> Path:
        return self.data_dir / "bqlite.sqlite"

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def chdb_path(self) -> Path:
        return self.data_dir / "chdb"

    @property
    def auth_on(self) -> bool:
        return self.auth == "on"

    @property
    def api_url(self) -> str:
        return f"http://{self.host}:{self.api_port}"

    @property
    def allowed_origins(self) -> list[str]:
        """Origins whose pages may change state (API writes, the UI's websocket): ``cors_origins`` plus the app's
        own UI and API (Swagger's "Try it out"), under every loopback name when the host is a loopback address.

        Never empty and never a wildcard: an empty list would turn python-socketio's origin check off, and ``*``
        would let any web page drive a local install. The Host header is not trusted (DNS rebinding).
        """
        hosts = ["127.0.0.1", "localhost", "[::1]"] if self.host in _LOOPBACK_HOSTS else [self.host]
        own = [f"http://{host}:{port}" for port in (self.ui_port, self.api_port) for host in hosts]
        configured = [origin.rstrip("/") for origin in self.cors_origins if origin.strip() not in ("", "*")]
        return list(dict.fromkeys([*configured, *own]))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
