"""Every metric from one pair of feature sets: the choice of metrics, statistics refused where features are
needed, bootstrap intervals reproducible and covering the full-set value."""

from __future__ import annotations

import numpy as np
import pytest

from converter.errors import ConversionError
from converter.fvd.distance import statistics
from converter.fvd.metrics import MetricOptions, evaluate, parse_metrics
from converter.fvd.protocols import get_protocol


@pytest.fixture(scope="module")
def pair():
    rng = np.random.default_rng(0)
    return rng.normal(0, 1, (160, 12)), rng.normal(0.3, 1.2, (140, 12))


def test_parse_metrics():
    assert parse_metrics("recall, fvd,kvd") == ("fvd", "kvd", "recall")
    with pytest.raises(ConversionError, match="unknown metric fid; choose from fvd,kvd,precision,recall"):
        parse_metrics("fvd,fid")


@pytest.mark.parametrize("protocol", ["tf", "fvd2048_16f"])
def test_bootstrap_is_seeded_and_covers_the_full_set_value(pair, protocol):
    real, fake = pair
    options = MetricOptions(subsets=5, subset_size=50, bootstrap=40, seed=4)
    names = ("fvd", "kvd", "precision", "recall")
    one = evaluate(real, fake, get_protocol(protocol), names, options)
    two = evaluate(real, fake, get_protocol(protocol), names, options)
    other = evaluate(real, fake, get_protocol(protocol), names, MetricOptions(5, 50, 40, seed=5))
    assert one.intervals == two.intervals and one.intervals != other.intervals
    for name in names:
        low, high = one.intervals[name]
        assert low < one.values[name] < high, (name, low, one.values[name], high)


def test_statistics_serve_fvd_only(pair):
    real, fake = pair
    tf = get_protocol("tf")
    stats = statistics(real, tf)
    assert evaluate(stats, fake, tf).values["fvd"] == evaluate(real, fake, tf).values["fvd"]
    with pytest.raises(ConversionError, match="kvd, --bootstrap need each video's features but real is statistics"):
        evaluate(stats, fake, tf, ("fvd", "kvd"), MetricOptions(bootstrap=10))


def test_a_failed_sqrtm_reaches_the_output(pair, monkeypatch, capsys, tmp_path):
    """The check's finding is in ``notes`` and beside the value (``fvd_eigenvalue``), and the command
    prints it as a warning line."""
    import scipy.linalg

    from converter.cli import main
    from converter.fvd.featurefile import Features

    real, fake = pair
    real_sqrtm = scipy.linalg.sqrtm
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m, *a, **k: real_sqrtm(m) * np.nan)
    found = evaluate(real, fake, get_protocol("fvd2048_16f"))
    assert "non-finite square root" in found.notes[0] and found.values["fvd_eigenvalue"] > 0
    for side, x in (("real", real), ("fake", fake)):
        Features(x.astype(np.float32), [str(i) for i in range(len(x))], [0] * len(x), "fvd2048_16f").save(
            tmp_path / f"{side}.npz"
        )
    assert main(["fvd", str(tmp_path / "real.npz"), str(tmp_path / "fake.npz"), "--protocol", "fvd2048_16f"]) == 0
    err = capsys.readouterr().err
    assert err.startswith("warning: scipy.linalg.sqrtm gave a non-finite square root") and "eigenvalue-based" in err
