"""Local tooling for Sundown: load the SAM template and deploy its stateful resources to moto."""
