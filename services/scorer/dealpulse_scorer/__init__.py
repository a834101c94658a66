"""DealPulse scorer service."""
