"""The broker request budget: when each account's next request is due (``raptor/broker/budget.py``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Text
from sqlalchemy.orm import Mapped, mapped_column

from raxx.raptor.models.base import Base


class BrokerRequestBudget(Base):
    """One row per broker account, written only by ``raptor_broker_budget_take`` and ``_hold``
    (``raptor/sql/``) under the row's lock. UNLOGGED: a crash resets the budget to full."""

    __tablename__ = "broker_request_budgets"
    __table_args__ = {"prefixes": ["UNLOGGED"]}

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    #: GCRA's theoretical arrival time: the next request at the steady rate is due then.
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
