"""Under mutation testing (mutmut sets MUTANT_UNDER_TEST) a property that fails is reported at once, not
shrunk: shrinking a mutant's failure outlasts mutmut's time limit, and a caught mutant would count as a
timeout instead of killed."""

from __future__ import annotations

import os

from hypothesis import Phase, settings

if os.environ.get("MUTANT_UNDER_TEST"):
    settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate])
    settings.load_profile("mutation")
