"""A module whose import fails inside it (tests/python/test_generic.py): the error must carry
this traceback, not only "cannot import"."""

import generic_sources  # noqa: F401 -- imports fine

raise RuntimeError("this module is broken on purpose")
