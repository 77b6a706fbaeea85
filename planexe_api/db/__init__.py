"""Plan storage: SQLAlchemy models, engines and transactions, repository functions, migrations.

Repository functions (``repo_*`` modules) take a ``Session`` first and never
commit; the caller opens the transaction with :func:`planexe_api.db.engine.transaction`.
See docs/database.md for the schema, the plan states and the lease rules.
"""
