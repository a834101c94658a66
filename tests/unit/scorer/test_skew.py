"""Live traffic against training: risk-category shares and drifted features, each with its documented threshold."""

from dealpulse_scorer.performance import MAJOR_SHIFT, SKEWED_SHARE_PP, skew_report, training_reference

SHARES = {"low": 0.10, "medium": 0.20, "high": 0.30, "critical": 0.40}
METRICS = {"open_deals": {"count": 400, "shares": SHARES,
                          "by_tenant": {"demo": {"count": 150, "shares": {**SHARES, "low": 0.2, "critical": 0.3}}}}}


def test_a_tenant_is_compared_with_its_own_training_open_deals_when_the_training_set_had_them() -> None:
    assert training_reference(METRICS, "demo") == ("training open deals of tenant demo",
                                                   METRICS["open_deals"]["by_tenant"]["demo"])
    assert training_reference(METRICS, "acme") == ("all training open deals", METRICS["open_deals"])
    assert training_reference({}, "acme") == ("none recorded", None)


def test_live_shares_within_the_threshold_and_no_drifted_feature_is_not_skewed() -> None:
    report = skew_report({"low": 12, "medium": 18, "high": 31, "critical": 39},
                         training_reference(METRICS, "acme"), {"log_amount": 0.04})
    assert report.live_shares == {"low": 0.12, "medium": 0.18, "high": 0.31, "critical": 0.39}
    assert report.difference_pp == {"low": 2.0, "medium": -2.0, "high": 1.0, "critical": -1.0}
    assert (report.open_deals, report.reference_deals) == (100, 400)
    assert not report.skewed and report.skewed_categories == [] and report.skewed_features == []
    assert (report.share_threshold_pp, report.psi_threshold) == (SKEWED_SHARE_PP, MAJOR_SHIFT)


def test_a_category_or_a_feature_past_its_threshold_is_named() -> None:
    report = skew_report({"low": 1, "medium": 19, "high": 30, "critical": 50}, training_reference(METRICS, "acme"),
                         {"activity_count_30d": MAJOR_SHIFT + 0.01, "log_amount": MAJOR_SHIFT})
    assert report.skewed and report.skewed_categories == ["critical", "low"]
    assert report.skewed_features == ["activity_count_30d"]


def test_without_training_shares_or_live_deals_only_the_features_can_say_skewed() -> None:
    report = skew_report({"low": 0, "medium": 0, "high": 0, "critical": 0}, training_reference({}, "t"), {})
    assert report.training_shares is None and report.difference_pp == {} and not report.skewed
