"""Heart-rate sources that own a background task (a radio, a broker connection)."""

from __future__ import annotations

from abc import abstractmethod

from treadctl.inputs.base import HeartRateSource


class BackgroundHeartRate(HeartRateSource):
    """start() spawns the network task and returns at once; stop() ends it.

    read_bpm() only reads the latest sample; age_s() is that sample's own age, which
    is older than "the last cycle read_bpm returned a value" by up to the staleness limit.
    """

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...

    @abstractmethod
    def age_s(self) -> float | None: ...
