"""The one sweep engine every paper's grid runs on (Dask distributed), and the sweep directory it writes."""
