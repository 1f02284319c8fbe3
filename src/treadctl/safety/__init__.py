"""The interlock: pure logic, its state, inputs, outputs and reasons."""
