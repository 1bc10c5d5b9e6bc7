"""The baseline: the smallest FastAPI endpoint that inserts one row with the same driver.

``POST /orders`` validates ``{symbol, qty, price}`` with pydantic and runs one
``INSERT ... RETURNING`` through a psycopg 3 async pool (autocommit), like the
perf-anchors baseline. ``GET /orders/{dicts,model,raw}`` return the same 100 orders as
plain dicts, through a declared response model, and pre-serialized, to measure the
response paths. Run: ``python bench/minimal_insert_app.py PORT DSN``.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import uvicorn
from fastapi import FastAPI, Response
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel

INSERT = "INSERT INTO orders (symbol, qty, price, created_at) VALUES (%s, %s, %s, now()) RETURNING id, created_at"


class OrderIn(BaseModel):
    symbol: str
    qty: int
    price: Decimal


class OrderOut(BaseModel):
    id: int
    symbol: str
    qty: int
    price: Decimal
    side: str
    status: str
    created_at: datetime


ORDERS: list[dict[str, Any]] = [
    {
        "id": i,
        "symbol": "AAPL",
        "qty": i,
        "price": Decimal("123.45"),
        "side": "buy",
        "status": "filled",
        "created_at": datetime(2026, 11, 26, 12, 0, i % 60, tzinfo=UTC),
    }
    for i in range(100)
]
RAW = orjson.dumps([{**o, "price": str(o["price"]), "created_at": o["created_at"].isoformat()} for o in ORDERS])


def build(dsn: str) -> FastAPI:
    pool = AsyncConnectionPool(dsn, min_size=8, max_size=8, kwargs={"autocommit": True}, open=False)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await pool.open(wait=True)
        yield
        await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/orders", status_code=201)
    async def create(order: OrderIn) -> dict[str, Any]:
        async with pool.connection() as conn:
            cur = await conn.execute(INSERT, (order.symbol, order.qty, order.price))
            row = await cur.fetchone()
        assert row is not None
        return {
            "id": row[0],
            "symbol": order.symbol,
            "qty": order.qty,
            "price": str(order.price),
            "created_at": row[1].isoformat(),
        }

    @app.get("/orders/dicts")
    async def dicts():  # type: ignore[no-untyped-def]  # deliberately undeclared: the slow path
        return ORDERS

    @app.get("/orders/model", response_model=list[OrderOut])
    async def model() -> list[dict[str, Any]]:
        return ORDERS

    @app.get("/orders/raw")
    async def raw() -> Response:
        return Response(RAW, media_type="application/json")

    return app


if __name__ == "__main__":
    uvicorn.run(
        build(sys.argv[2]),
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
