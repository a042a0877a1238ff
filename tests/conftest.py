import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# Let tests import `helpers` as a plain module.
sys.path.insert(0, str(Path(__file__).resolve().parent))

# CI runs on a shared two-core machine with an empty example database: generation and the first
# examples can be slow there for reasons that say nothing about the code (timing is measured by
# the benchmarks and the linearity tests, not by hypothesis deadlines).
settings.register_profile("chunkwise", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("chunkwise")
