"""`treadctl drive probe`: read a drive for commissioning. Reads only; writes nothing."""

from __future__ import annotations

from treadctl.config.machine import SerialLink, TcpLink
from treadctl.drives.base import DriveError
from treadctl.drives.link import LinkError, ModbusLink
from treadctl.drives.modbus import ModbusDrive
from treadctl.drives.regmap import RegisterMap


async def probe(
    link_cfg: TcpLink | SerialLink, regmap: RegisterMap, device_id: int, kmh_per_hz: float
) -> list[str]:
    link = ModbusLink(link_cfg)
    link.users += 1
    drive = ModbusDrive(link, regmap, device_id, kmh_per_hz)
    lines = [f"drive {drive.name}"]
    try:
        await link.open()
        m = regmap
        status, output, fault, warning = await drive.read_monitor()
        decoded = m.decode_status(status, output, fault, warning)
        fault = decoded.fault_code
        lines += [
            f"  status word    0x{status:04X}: {'running' if decoded.running else 'not running'}, "
            f"{'reverse' if decoded.reverse else 'forward'}, "
            f"{'ready' if decoded.ready else 'NOT ready'}",
            f"  output         {decoded.output_hz:.2f} Hz = "
            f"{decoded.output_hz * kmh_per_hz:.2f} km/h at {kmh_per_hz} km/h per Hz",
            f"  fault          {fault}: {m.fault_text(fault) if fault else 'none'}",
        ]
        setting = await drive.read_watchdog()
        armed = setting.timeout_s > 0 and setting.action == m.watchdog.action_text
        lines.append(
            f"  comm watchdog  {setting.timeout_s:g} s, {setting.action}"
            + ("" if armed else "  <- NOT armed with a stop action: treadctl arms it at connect")
        )
    except (LinkError, DriveError) as exc:
        lines.append(f"  error: {exc}")
    finally:
        link.close()
    return lines
