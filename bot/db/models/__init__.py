"""All ORM models; each area keeps its tables in its own module, imported here for Alembic."""

from bot.db.base import Base
from bot.db.models.core import FsmRecord, Role, User

__all__ = ["Base", "FsmRecord", "Role", "User"]
