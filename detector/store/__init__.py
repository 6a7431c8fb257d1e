"""The state store: SQLite (embedded default) or PostgreSQL (shared by replicas); see ``open_store``."""

from detector.store.base import CycleRecord, Store
from detector.store.factory import open_store

__all__ = ["CycleRecord", "Store", "open_store"]
