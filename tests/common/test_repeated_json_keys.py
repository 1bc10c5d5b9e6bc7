"""``repeated_json_keys``: the keys a JSON body gives twice, found exactly, cheaply when there are none."""

from __future__ import annotations

import pytest

from raxx.common.asgi import repeated_json_keys


@pytest.mark.parametrize(
    ("body", "repeated"),
    [
        (b'{"symbol":"AAPL","side":"buy","type":"market","quantity":"1"}', []),
        (b'{"quantity":"1","quantity":"1000000"}', ["quantity"]),
        (b'{"a" : 1 , "a"\n:2}', ["a"]),  # whitespace around the colon
        (b'{"a":{"b":1,"b":2},"c":[{"d":1},{"d":1,"d":3}]}', ["b", "d"]),  # nested, in order
        (b'{"a":"x\\":","b":1}', []),  # a value holding a key's end: counted, then read exactly
        (b'["x",":"]', []),
        (b'{"a":1}', []),
        (b"not json", []),  # its reader refuses it, in its own words
        (b"[" * 5000 + b"]" * 5000, []),  # deeper than the parsers go: the reader refuses it
    ],
)
def test_repeated_keys_are_named_and_nothing_else(body: bytes, repeated: list[str]) -> None:
    assert repeated_json_keys(body) == repeated
