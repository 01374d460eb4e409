"""The example service: SQLAlchemy models whose schema alembic migrates."""
