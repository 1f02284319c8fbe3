"""The metronome: clicks at the running segment's cadence, and the beat the dashboard shows.

config: the machine file's [metronome] section. click: the click's samples. beat: when a
beat shows (pure, shared by the dashboard and the sound). schedule: where each click falls,
by sample count. player: the sound output (PortAudio) and the WAV file sink, both fed by
the same scheduler. bridge: follows the session's status and sets the cadence.
"""
