"""The tier router: a span's complexity picks the cheapest tier expected to handle it."""

from __future__ import annotations

from shared.messages import Complexity
from shared.names import TIERS
from shared.settings import RouterSettings, TiersSettings


def complexity_tier(c: Complexity, thresholds: RouterSettings) -> str:
    """The tier a span's figures call for, ignoring which tiers are configured."""
    if c.lines >= thresholds.to_api_lines or c.token_estimate >= thresholds.to_api_tokens:
        return "api"
    if (
        c.lines >= thresholds.to_14b_lines
        or c.nesting_depth >= thresholds.to_14b_nesting_depth
        or c.branches >= thresholds.to_14b_branches
        or c.token_estimate >= thresholds.to_14b_tokens
    ):
        return "14b"
    return "7b"


def start_tier(c: Complexity, thresholds: RouterSettings, tiers: TiersSettings) -> str:
    """The tier whose queue gets the span.

    With no LLM tier configured every queue is served by the static tier, so the
    complexity tier stands (and the distribution stays visible). Otherwise a tier
    with no endpoints is skipped: the first configured tier at or above the
    complexity tier, else the strongest configured one.
    """
    wanted = complexity_tier(c, thresholds)
    configured = [t for t in TIERS if tiers.get(t).configured]
    if not configured:
        return wanted
    at_or_above = [t for t in configured if TIERS.index(t) >= TIERS.index(wanted)]
    return at_or_above[0] if at_or_above else configured[-1]
