"""List filters: durations and the label selectors they become."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kuberun.manage.query import ListFilter, parse_duration


def test_durations_and_label_selectors():
    assert parse_duration("2h") == timedelta(hours=2) and parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="invalid duration"):
        parse_duration("soon")
    selector = ListFilter(title="My Run", user="Alice", selector="team=a").label_selector()
    assert selector == "team=a,kuberun.dev/title=my-run,kuberun.dev/submitted-by=alice"
