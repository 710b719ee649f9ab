"""Operational alerts computed in the stream (breach spikes), published on the ALERTS topic."""
