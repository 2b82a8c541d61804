"""Database: engine and session factory, models, migrations, repositories."""
