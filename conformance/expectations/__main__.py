"""``python -m conformance expectations write|check ...``."""

import sys

from conformance.expectations.write import main

sys.exit(main())
