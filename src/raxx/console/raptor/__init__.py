"""The console's client of Raptor, one package for all that talks to it.

``transport`` (pooled keep-alive connections, plain or TLS) over ``connection`` (one
connection, its parser, the failures); ``identity`` (the backend without credentials: who
it is, readiness); ``client`` (credentialed calls, only after identity); ``errors`` (the
console's refusals when Raptor cannot be called); ``trading_api`` (one method per trading
endpoint) and ``refusals`` (Raptor's refusals in plain words).
"""
