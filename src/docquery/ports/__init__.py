"""The ports: one Protocol per kind of backing service."""

from docquery.ports.blobs import BlobStore, BlobWriter
from docquery.ports.documents import DocumentStore

__all__ = ["BlobStore", "BlobWriter", "DocumentStore"]
