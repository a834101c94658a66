"""Code that two or more DealPulse services truly share."""
