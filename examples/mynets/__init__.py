"""The examples' own torch networks, shipped to Ray's workers by a spec's `py_modules: [mynets]`."""
