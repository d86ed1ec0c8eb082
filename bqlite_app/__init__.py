"""BigQuery-Lite: BigQuery's way of working, on your own machine."""

__version__ = "0.1.0"
