"""DealPulse verdict service."""
