"""Optional OpenTelemetry tracing: on only with OTEL_ENABLED=1 *and* the packages installed.

The project does not depend on OpenTelemetry; a deployment that wants traces installs
`opentelemetry-sdk`, `opentelemetry-exporter-otlp` and the Django/Celery/Redis
instrumentations, and configures the exporter with the standard OTEL_* variables.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging

from django.conf import settings

logger = logging.getLogger(__name__)

_INSTRUMENTATIONS = (
    ("opentelemetry.instrumentation.django", "DjangoInstrumentor"),
    ("opentelemetry.instrumentation.celery", "CeleryInstrumentor"),
    ("opentelemetry.instrumentation.redis", "RedisInstrumentor"),
    ("opentelemetry.instrumentation.httpx", "HTTPXClientInstrumentor"),
)


def tracing_setup() -> list[str]:
    """Instrument what is installed; returns the instrumentor names switched on."""
    if not settings.OTEL_ENABLED:
        return []
    if importlib.util.find_spec("opentelemetry") is None:
        logger.warning("OTEL_ENABLED=1 but opentelemetry is not installed; tracing stays off")
        return []
    enabled = []
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        provider = TracerProvider(resource=Resource.create({"service.name": "platform"}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
    except ImportError as exc:
        logger.warning("opentelemetry sdk/exporter missing, tracing stays off error=%s", exc)
        return []
    for module_name, class_name in _INSTRUMENTATIONS:
        try:
            instrumentor = getattr(importlib.import_module(module_name), class_name)
        except (ImportError, AttributeError):
            continue
        instrumentor().instrument()
        enabled.append(class_name)
    logger.info("tracing enabled instrumentations=%s", ",".join(enabled) or "none")
    return enabled
