"""The SQL connection layer shared by every database backend.

``database.py`` is the only module that imports the ``databases`` library; ``errors.py`` is the
one place driver exceptions become ``autocoder.errors`` classes; ``dialects.py`` holds what
differs between PostgreSQL, MySQL/MariaDB and SQLite at the driver level.
"""
