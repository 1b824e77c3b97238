"""The one percentile definition agrees with NumPy's default and refuses a bad quantile."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.latency import percentile, percentiles


@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200),
    st.floats(0, 1),
)
def test_percentile_is_numpys_linear_interpolation(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q * 100)))


def test_percentiles_of_nothing_are_zero_and_a_bad_quantile_is_refused():
    assert percentiles([]) == {"p50": 0.0, "p95": 0.0, "p99": 0.0, "n": 0.0}
    assert percentiles([1.0, 2.0, 3.0])["p50"] == 2.0
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        percentile([1.0], 95)
