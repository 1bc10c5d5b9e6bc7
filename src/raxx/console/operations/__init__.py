"""What operators do through the console on a Raptor: parse the forms they type, then
place, cancel and halt as audited actions (the calls themselves are :mod:`raxx.console.raptor`)."""
