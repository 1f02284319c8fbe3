"""Emulated Bluetooth LE machines on the virtual radio (heartrate.emulator.VirtualRadio)."""
