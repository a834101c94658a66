"""The ``dealpulse`` command: operator tasks for the whole system."""
