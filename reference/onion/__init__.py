"""The onion paper (Csordás et al. 2024): seq2seq GRU training, and its interventions and probes (stage 2)."""
