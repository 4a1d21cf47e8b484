"""Sundown: account-lifecycle domain logic, shipped to every function as a Lambda layer."""
