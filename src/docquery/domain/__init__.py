"""Plain data of the domain: no I/O."""
