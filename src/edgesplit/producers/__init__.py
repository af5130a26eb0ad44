"""Sensor sources and the frame producer."""
