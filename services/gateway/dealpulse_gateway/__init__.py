"""DealPulse gateway service."""
