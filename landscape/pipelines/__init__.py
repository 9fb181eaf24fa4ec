"""Orchestrators, one per job: each calls the loader, the maths and io, in that order."""
