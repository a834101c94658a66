"""DealPulse ingest service."""
