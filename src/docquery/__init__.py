"""docquery: a backend for querying medical documents."""

__version__ = "0.1.0"
