"""The router picks the cheapest tier whose thresholds a span stays under, skipping unconfigured tiers."""

import pytest

from shared.messages import Complexity
from shared.router import complexity_tier, start_tier
from shared.settings import RouterSettings, TierSettings, TiersSettings

SMALL = Complexity(lines=10, nesting_depth=1, branches=1, token_estimate=100)
DEEP = Complexity(lines=30, nesting_depth=6, branches=2, token_estimate=300)
LONG = Complexity(lines=120, token_estimate=1200)
HUGE = Complexity(lines=400, token_estimate=9000)


@pytest.mark.parametrize(("figures", "tier"), [(SMALL, "7b"), (DEEP, "14b"), (LONG, "14b"), (HUGE, "api")])
def test_complexity_tier(figures: Complexity, tier: str) -> None:
    assert complexity_tier(figures, RouterSettings()) == tier


def _tiers(*configured: str) -> TiersSettings:
    tiers = TiersSettings()
    for name in configured:
        setattr(
            tiers, {"7b": "t7b", "14b": "t14b", "api": "api"}[name], TierSettings(model="m", endpoints=["http://h"])
        )
    return tiers


@pytest.mark.parametrize(
    ("figures", "configured", "tier"),
    [
        (SMALL, (), "7b"),  # static serves every queue: the complexity tier stands
        (HUGE, (), "api"),
        (SMALL, ("14b", "api"), "14b"),  # 7b has no endpoints: skipped
        (DEEP, ("7b",), "7b"),  # nothing stronger configured: the strongest there is
        (HUGE, ("7b", "14b"), "14b"),
        (DEEP, ("7b", "api"), "api"),
    ],
)
def test_start_tier_skips_unconfigured(figures: Complexity, configured: tuple[str, ...], tier: str) -> None:
    assert start_tier(figures, RouterSettings(), _tiers(*configured)) == tier
