"""Entities: personal and case data with offsets, and redaction."""
from triage.entities.extract import EntityExtractor, redact

__all__ = ["EntityExtractor", "redact"]
