"""``/v1/account``."""

from __future__ import annotations

from fastapi import APIRouter

from raxx.raptor.account.schemas import AccountRead
from raxx.raptor.deps import BrokerDep, ReadCaller, SettingsDep
from raxx.raptor.openapi import AUTH_ERRORS, error_responses

router = APIRouter(prefix="/v1/account", tags=["account"])


@router.get(
    "",
    response_model=AccountRead,
    summary="Cash, equity, buying power and the broker account",
    responses=error_responses(*AUTH_ERRORS, 503),
)
async def get_account(broker: BrokerDep, settings: SettingsDep, caller: ReadCaller) -> AccountRead:
    account = await broker.account()  # ``BrokerUnavailable`` is its own 503
    return AccountRead(
        environment=settings.environment,
        broker=broker.name,
        account_id=account.account_id,
        paper=account.paper,
        currency=account.currency,
        cash=account.cash,
        buying_power=account.buying_power,
        equity=account.equity,
        positions_value=account.positions_value,
    )
