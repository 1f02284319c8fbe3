"""Heart-rate sources: Bluetooth LE straps (Heart Rate Service) and MQTT gateways.

Every source keeps the latest timestamped reading; `read_bpm` returns it (or None) and
never waits on the network, so a silent strap or broker cannot stall the control loop.
"""
