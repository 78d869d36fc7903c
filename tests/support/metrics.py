"""Scrape /metrics and read the samples back with Prometheus's own parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a Prometheus text page, keyed by (sample name, its labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(client, **kwargs) -> dict[tuple[str, frozenset], float]:
    """GET /metrics (from 127.0.0.1 unless told otherwise) and parse it; the scrape must succeed."""
    response = client.get("/metrics", **kwargs)
    assert response.status_code == 200, response.status_code
    return parse(response.get_data(as_text=True))


def value(samples: dict, name: str, **labels: str) -> float:
    """A sample's value, 0 when the page does not have it (a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_counted(samples: dict, endpoint: str, method: str, status: int) -> float:
    return value(samples, "portal_http_requests_total", endpoint=endpoint, method=method, status=str(status))
