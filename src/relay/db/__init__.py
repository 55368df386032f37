"""The index: the only package that builds SQL."""
