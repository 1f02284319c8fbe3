"""The HIL simulator's drives by name (`treadctl sim --drive`), without their models: the
CLI lists them in its help without importing the simulator (sim/drives/ builds each)."""

PERSONALITY_NAMES = ("delta-ms300", "yaskawa-a1000", "abb-acs355", "siemens-v20")
MAP_DRIVEN = "map"  # the map-driven model: whatever the register map says
