"""A user's own model code for the tests: shipped to Ray's workers by a spec's py_modules."""
