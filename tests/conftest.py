"""Shared test settings: hypothesis profiles, and the tiny reference sweep that the sweep tests compare against.

Profiles: "ci" (the default: no deadline, few examples, so the suite stays fast on 2 cores) and "dev" (more
examples). Pick one with HYPOTHESIS_PROFILE=dev.
"""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, max_examples=25, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def reference_sweep(tmp_path_factory):
    """The tiny sweep (tests/sweephelpers.py), run once without interruption on a LocalCluster of 2 workers."""
    from sweephelpers import TINY_KW

    from onionref.onion.sweep import run_sweep
    out = tmp_path_factory.mktemp("reference-sweep") / "sweep"
    res = run_sweep(out, workers=2, progress=False, **TINY_KW)
    return out, res
