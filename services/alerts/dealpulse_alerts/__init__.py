"""DealPulse alerts service."""
