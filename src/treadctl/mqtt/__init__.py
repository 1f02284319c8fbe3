"""MQTT: the controller's telemetry bridge and the clinic monitor.

The bridge publishes a treadmill's status, telemetry, events and session summaries under
`treadctl/<site>/<treadmill>/...` and takes stop, pause and (when the machine file allows
it and the local operator confirms) start, speed and direction requests from the command
topic. It runs in a thread of its own with its own event loop: a slow or absent broker
costs the control loop nothing. See docs/mqtt.md.
"""
