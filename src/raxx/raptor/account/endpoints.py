"""``/v1/account``."""

from __future__ import annotations

from fastapi import APIRouter

from raxx.raptor.account.schemas import AccountRead
from raxx.raptor.broker.base import BrokerUnavailable
from raxx.raptor.deps import BrokerDep, ReadCaller, SettingsDep
from raxx.raptor.errors import BrokerUnavailable as BrokerUnavailableError
from raxx.raptor.openapi import AUTH_ERRORS, error_responses

router = APIRouter(prefix="/v1/account", tags=["account"])


@router.get(
    "",
    response_model=AccountRead,
    summary="Cash, equity, buying power and the broker account",
    responses=error_responses(*AUTH_ERRORS, 503),
)
async def get_account(broker: BrokerDep, settings: SettingsDep, caller: ReadCaller) -> AccountRead:
    try:
        account = await broker.account()
    except BrokerUnavailable as exc:
        raise BrokerUnavailableError(f"the broker did not answer ({exc.reason})") from exc
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
