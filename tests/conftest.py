pytest_plugins = ["tests.fixtures.database", "tests.fixtures.apps", "tests.fixtures.topology", "tests.fixtures.browser"]
