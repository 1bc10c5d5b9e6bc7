"""Where orders execute: a ``Broker`` protocol, the built-in paper broker, and the factory."""
