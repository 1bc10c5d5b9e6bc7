"""The console's client of Raptor: one keep-alive transport per environment (``transport``),
identity checks and calls (``client``), one typed method per trading endpoint (``trading_api``)
and Raptor's refusals in plain words (``refusals``)."""
