"""The execution layer under every SQL backend (the Store's documents, V5's tables).

- ``database``: ``Database`` and ``Connection``, the one path every statement takes (fair
  acquire and release, the statement time bound, error translation, outage detection and the
  background probe, transactions);
- ``drivers``: the ``Driver`` protocol and one implementation per dialect (asyncpg, aiomysql,
  sqlite3 in its own thread), the only code that calls a driver;
- ``errors``: the tables that turn driver exceptions into ``autocoder.errors`` classes;
- ``dialects``: URL schemes, identifiers, placeholders;
- ``permits``, ``watchdog``, ``sqlite_gate``, ``sqlite_thread``: the pieces ``database`` and
  ``drivers`` are built of.
"""
