"""The action protocol of SPEC section 3, above the storage-backend interface."""
