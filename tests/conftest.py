import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# The property tests (test_properties*.py) run with a fixed budget: derandomized (the same
# examples on every run, until the test or hypothesis changes), a bounded number of examples
# per test (set by each test with helpers.examples), no deadline (shared CI machines have
# erratic timings), nothing saved between runs. FARSIGHTED_PROPERTY_SCALE multiplies the
# number of examples, for longer fuzzing sessions, e.g. FARSIGHTED_PROPERTY_SCALE=50
# HYPOTHESIS_PROFILE=random.
_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "ci", derandomize=True, deadline=None, database=None, suppress_health_check=_QUIET
)
settings.register_profile("random", deadline=None, suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: long tests, run with --runslow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: use --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def rng():
    return np.random.default_rng(0xFA25)
