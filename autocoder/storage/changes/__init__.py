"""Change feeds: every committed change of a collection numbered with ``seq``, kept for a
while, and handed to watchers in seq order (docs/change-feeds.md).

- ``change``: ``Change``, one committed change, and its event as watchers and bindings see it;
- ``journal``: ``Journal``, the operations of one transaction noting each change they make;
- ``history``: the SQL of the seq counter and the change history, per dialect, and
  ``record_changes``, the one step that numbers a transaction's changes just before COMMIT;
- the change feeds that hand them to watchers are ``autocoder.store.feed``.
"""
