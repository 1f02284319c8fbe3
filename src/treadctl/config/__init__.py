"""Configuration: machine, patient and profile files, validated before anything moves.

Import from the modules (treadctl.config.machine, .profile, .patient, .errors,
.loader): this package imports nothing itself, because every other package reaches
treadctl.config.errors, and an __init__ that loaded machine.py (which names the MQTT and
heart-rate sections) made imports go round in a circle, depending on which came first.
"""
