"""The canonical cluttered-Omniglot generator (bit-exact with the authors' release)."""
