"""A clinician report for one recorded session: one self-contained, printable HTML file.

`treadctl sessions report ID [--out FILE]`. The file needs nothing else to be read or
printed: the plots are PNGs embedded as base64 data URIs, the CSS is inline, and there
is no script. It holds:

- the header: the patient's pseudonym (never a name; the patient file's notes are left
  out), the profile and its source line, the machine, the date, the status (also
  "interrupted") and the outcome;
- the speed-time plot from the 10 Hz samples: target and measured belt speed, backward
  time shaded, every stop marked and labelled with its reason (latched faults in a
  colour and line of their own);
- the segment table, planned against done; time and distance per direction;
- the energy estimate per segment and in total (protocol/energy.py's METs at the
  segment's actual moving time and mean moving belt speed), or "no estimate: no body
  mass" when the session's copy of the patient file has none;
- every stop with its time and reason, found in the session's events the way the
  session summary finds them (so an interrupted session without a summary has them too);
- the two figures the progression uses, RPE and rail contact (the share of backward
  walking with a hand on a rail, as `store.history` measures it), for the session, and
  rail contact per segment from the samples (RPE is recorded per session only);
- the operator's speed changes as a table: time, segment, from, to, who;
- the patient's progression: for every session of the same patient, profile (by name)
  and kind (run or simulate) up to this one, the highest backward target and the
  achieved backward speed (mean moving belt speed), RPE and rail contact, with the
  sessions that had unplanned stops or latched faults marked. Demo runs on the built-in
  simulator and sessions in which the belt never moved are left out (unless the report
  is of one: a demo's report lists demo runs).

Every string read from the database is escaped with html.escape.

The modules, each read at once, lowest first: `stops` and `figures` compute from the
stored records (no HTML); `data` reads the database; `markup` holds the HTML pieces and
CSS (the clinic's report uses them too); `header`, `belt` (the plot, stops, speed
changes), `segments` (segments, incline, directions), `effort` (RPE and rail contact,
energy) and `progression` are the sections; `document` puts them together, writes the
file and is the verb. Every name is importable from here as before.
"""

from treadctl.store.report.data import _Data, _History, _read
from treadctl.store.report.document import (
    default_out,
    render,
    write_report,
)
from treadctl.store.report.figures import (
    ENERGY_BASIS,
    NO_BODY_MASS,
    SpeedChange,
    _profile_meta,
    direction_totals,
    mean_moving_kmh,
    sampled_direction_totals,
    segment_rail,
    segment_times,
    session_energy,
    speed_changes,
)
from treadctl.store.report.markup import _CSS, _e, _img, _mmss, _table, _td, _when
from treadctl.store.report.stops import Stop, stops_from_events, with_summary_belt

__all__ = [
    "ENERGY_BASIS",
    "NO_BODY_MASS",
    "_CSS",
    "SpeedChange",
    "Stop",
    "_Data",
    "_History",
    "_e",
    "_img",
    "_mmss",
    "_profile_meta",
    "_read",
    "_table",
    "_td",
    "_when",
    "default_out",
    "direction_totals",
    "mean_moving_kmh",
    "render",
    "sampled_direction_totals",
    "segment_rail",
    "segment_times",
    "session_energy",
    "speed_changes",
    "stops_from_events",
    "with_summary_belt",
    "write_report",
]
