"""Every e-mail DealPulse sends, rendered from Jinja2 templates (``templates/``) into a subject, a plain-text body and
an HTML body. Pure: rendering does no I/O beyond reading the packaged templates.

HTML templates escape everything they are given (CRM text is untrusted); plain-text ones do not need to.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from dealpulse_alerts.slack import format_amount
from dealpulse_common.events import DealAlertData


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("dealpulse_alerts", "templates"), undefined=StrictUndefined,
                      autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
                      trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["amount"] = lambda value, currency="USD": format_amount(value, currency)
    return env


def render(name: str, subject: str, **context: Any) -> dict[str, str]:
    """``templates/{name}.txt.j2`` and ``{name}.html.j2`` with ``context``, as the message a delivery row holds."""
    env = _environment()
    return {"subject": subject,
            "text": env.get_template(f"{name}.txt.j2").render(subject=subject, **context),
            "html": env.get_template(f"{name}.html.j2").render(subject=subject, **context)}


def alert_email(data: DealAlertData) -> dict[str, str]:
    return render("alert", f"[DealPulse] {data.title}", alert=data)


def test_email() -> dict[str, str]:
    return render("test", "[DealPulse] Test alert")
