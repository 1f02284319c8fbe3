"""A gateway gone mad, in a process of its own: publish N messages as fast as paho can.

usage: flood_pub.py HOST PORT USER PASSWORD TOPIC COUNT
Half the messages are good rates, half garbage; the last one is the rate 123.
"""

from __future__ import annotations

import sys

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main() -> int:
    host, port, user, password, topic, count = sys.argv[1:7]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.max_queued_messages_set(0)
    client.connect(host, int(port))
    client.loop_start()
    for i in range(int(count)):
        payload = b'{"hr": 90}' if i % 2 else b"\xff garbage " + b"x" * 100
        client.publish(topic, payload, qos=0)
    client.publish(topic, b'{"hr": 123}', qos=1).wait_for_publish(30)
    client.loop_stop()
    client.disconnect()
    return 0


if __name__ == "__main__":
    sys.exit(main())
