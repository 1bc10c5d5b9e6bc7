"""The console's side of Raptor's trading API: the typed client, refusals in plain words, forms."""
