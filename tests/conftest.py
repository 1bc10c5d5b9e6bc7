pytest_plugins = [
    "tests.fixtures.database",
    "tests.fixtures.apps",
    "tests.fixtures.topology",
    "tests.fixtures.browser",
    "tests.fixtures.processes",
    "tests.fixtures.report",
    "tests.fixtures.oidc",
    "tests.fixtures.passwords",
]


def pytest_collection_modifyitems(items: list) -> None:  # type: ignore[type-arg]
    """Browser tests run last: they are the slowest and hold an event loop while open."""
    items.sort(key=lambda item: "tests/browser/" in str(item.fspath))
