"""Prometheus metrics, one registry per app (nothing is registered at import time)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest


class RelayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.uploads = Counter(
            "relay_uploads_total", "Track uploads by outcome", ["outcome"], registry=self.registry
        )
        self.upload_bytes = Counter(
            "relay_upload_bytes_total", "Audio bytes received", registry=self.registry
        )
        self.publishes = Counter(
            "relay_publishes_total",
            "Record publishes to a PDS by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.token_refreshes = Counter(
            "relay_token_refreshes_total",
            "PDS token refreshes by outcome (adopted: another process had just refreshed)",
            ["outcome"],
            registry=self.registry,
        )
        self.pds_write_seconds = Histogram(
            "relay_pds_write_seconds",
            "Latency of PDS record writes",
            ["operation"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )

    @contextlib.contextmanager
    def pds_write(self, operation: str) -> Iterator[None]:
        """Observe the latency of one PDS write, whether it succeeds or fails."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.pds_write_seconds.labels(operation=operation).observe(
                time.perf_counter() - started
            )

    def render(self) -> bytes:
        return generate_latest(self.registry)
