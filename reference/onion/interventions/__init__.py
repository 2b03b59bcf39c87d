"""Interchange interventions on the encoder's final state (spec §4.2, §4.3)."""
