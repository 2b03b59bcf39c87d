"""Shared test settings: hypothesis profiles.

Profiles: "ci" (the default: no deadline, few examples, so the suite stays fast on 2 cores) and "dev" (more
examples). Pick one with HYPOTHESIS_PROFILE=dev.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, max_examples=25, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=200, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
