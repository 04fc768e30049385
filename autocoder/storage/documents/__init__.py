"""The basic Store's database storage: JSON documents in one table (``SqlDocumentBackend``)."""

from autocoder.storage.documents.backend import SqlDocumentBackend

__all__ = ("SqlDocumentBackend",)
