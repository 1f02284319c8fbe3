"""The powered incline: the actuator ABC and its backends (simulated, Modbus relays with a
position sensor, Modbus position controller)."""
