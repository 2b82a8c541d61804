"""All ORM models; each area keeps its tables in its own module, imported here for Alembic."""

from bot.db.base import Base
from bot.db.models import applications as _applications  # noqa: F401
from bot.db.models import broadcasts as _broadcasts  # noqa: F401  (issue 5)
from bot.db.models import faq as _faq  # noqa: F401  (issue 12)
from bot.db.models import groups as _groups  # noqa: F401  (issue 5)
from bot.db.models import helpdesk as _helpdesk  # noqa: F401
from bot.db.models import reliability as _reliability  # noqa: F401  (issue 7)
from bot.db.models import reminders as _reminders  # noqa: F401  (issue 5)
from bot.db.models import stats as _stats  # noqa: F401  (issue 13)
from bot.db.models import web as _web  # noqa: F401  (issue 14)
from bot.db.models.core import FsmRecord, Role, User
from bot.db.models.knowledge import Question

__all__ = ["Base", "FsmRecord", "Question", "Role", "User"]
