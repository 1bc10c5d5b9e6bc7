"""``/v1/account``."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter

from raxx.raptor.account.schemas import AccountRead
from raxx.raptor.deps import BrokerDep, ReadCaller, SettingsDep
from raxx.raptor.openapi import route

router = APIRouter(prefix="/v1/account", tags=["account"])


@route(router.get, "", "Cash, equity, buying power and the broker account", 503)
async def get_account(broker: BrokerDep, settings: SettingsDep, caller: ReadCaller) -> AccountRead:
    account = await broker.account()  # ``BrokerUnavailable`` is its own 503
    return AccountRead(environment=settings.environment, broker=broker.name, **asdict(account))
