"""The action protocol of docs/actions.md, above the storage-backend interface."""
