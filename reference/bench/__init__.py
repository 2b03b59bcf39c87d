"""`onionref bench`: every measurement of the lab, each backend in its own worker process, ratios from one run."""
