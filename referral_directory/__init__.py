"""The support-organisation directory: regions, opening hours, models, snapshot, interchange."""
