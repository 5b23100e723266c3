"""An independent observer of the arm commands on the wire (torch-free).

It checks every ``LowCmd_`` sample the controller sends — as a robot-side watchdog would — against
the contract, without trusting the controller's own counters: CRC valid, arm targets finite and
within the joint limits (schema.JOINT_LIMITS shrunk by the safety margin), per-command step within
``v_max·dt``, arm_sdk weight in [0, 1] changing by at most the fastest allowed ramp per command,
gains within bounds. Used by ``dit4dit sim`` (each rollout reports its violations) and tests.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.robot import wire

_ARM = np.array(schema.ARM_MOTOR_INDICES)


@dataclasses.dataclass
class MonitorLimits:
    """Bounds the monitor enforces (defaults: the controller's safety defaults, docs/controller.md).

    Attributes:
        position_margin_rad: margin inside schema.JOINT_LIMITS [rad].
        max_step_rad: largest allowed change of any arm target between consecutive commands [rad]
            (3 rad/s at 250 Hz = 0.012 rad).
        max_weight_step: largest allowed change of the arm_sdk weight per command (a 2 s ramp at
            250 Hz = 0.002; g1_spec §3.2).
        kp_max, kd_max: gain bounds.
        new_session_gap_s: silence after which a weight-0 stream counts as a new session (its first
            command relates to the measured pose, not the old last command) [s].
        rate_hz: the controller's command rate; when samples between two observed commands were
            not delivered (a keep-last writer under load), the step allowance is scaled by the
            number of ticks the source-time gap spans.
    """

    position_margin_rad: float = 0.05
    max_step_rad: float = 3.0 / 250.0
    max_weight_step: float = 1.0 / (2.0 * 250.0)
    kp_max: float = 150.0
    kd_max: float = 10.0
    new_session_gap_s: float = 0.1
    rate_hz: float = 250.0


class CommandMonitor:
    """Checks a stream of LowCmd samples; collects human-readable violations.

    Args:
        limits: bounds to enforce.
        arm_sdk: True for rt/arm_sdk (weight in motor 29); False for rt/lowcmd (weight 1).
    """

    def __init__(self, limits: MonitorLimits | None = None, arm_sdk: bool = True) -> None:
        self.limits = limits or MonitorLimits()
        self.arm_sdk = arm_sdk
        self.lower = schema.POSITION_LOWER[schema.ARMS] + self.limits.position_margin_rad - 1e-5
        self.upper = schema.POSITION_UPPER[schema.ARMS] - self.limits.position_margin_rad + 1e-5
        self.commands = 0
        self.violations: list[str] = []
        self.max_step = 0.0
        self._prev_q: np.ndarray | None = None
        self._prev_w: float | None = None
        self._prev_t = 0.0

    def _violate(self, t: float, text: str) -> None:
        if len(self.violations) < 100:
            self.violations.append(f"t={t:.3f}s cmd#{self.commands}: {text}")

    def check(self, cmd: np.ndarray, t: float) -> None:
        """Check one command (a :data:`wire.LOWCMD_DTYPE` scalar) sent at time ``t`` [s] (source stamp)."""
        self.commands += 1
        lim = self.limits
        if not wire.array_crc_ok(cmd):
            self._violate(t, "CRC mismatch")
        motors = cmd["motor_cmd"]
        q = np.asarray(motors["q"][_ARM], dtype=np.float64)
        kp = np.asarray(motors["kp"][_ARM], dtype=np.float64)
        kd = np.asarray(motors["kd"][_ARM], dtype=np.float64)
        w = float(motors["q"][schema.ARM_SDK_WEIGHT_INDEX]) if self.arm_sdk else 1.0
        if not np.all(np.isfinite(q)) or np.any(q < self.lower) or np.any(q > self.upper):
            self._violate(t, f"arm target outside limits: {np.round(q, 4).tolist()}")
        if self._prev_w == 0.0 and t - self._prev_t > lim.new_session_gap_s:
            self._prev_q = None
        # Targets sent with weight 0 on both sides have no effect on the arm (arm_sdk blends them out).
        inert = self.arm_sdk and w == 0.0 and self._prev_w == 0.0
        if self._prev_q is not None and np.all(np.isfinite(q)) and not inert:
            ticks = max(1, int((t - self._prev_t) * lim.rate_hz + 0.5))
            step = float(np.max(np.abs(q - self._prev_q))) / ticks
            self.max_step = max(self.max_step, step)
            if step > lim.max_step_rad + 2e-6:
                self._violate(
                    t,
                    f"step {step:.6f} rad/tick > {lim.max_step_rad:.6f} "
                    f"(dim {int(np.argmax(np.abs(q - self._prev_q)))}, "
                    f"weight {self._prev_w} -> {w}, {t - self._prev_t:.4f} s after the previous command)",
                )
        if not 0.0 <= w <= 1.0:
            self._violate(t, f"weight {w} outside [0, 1]")
        if self._prev_w is not None and abs(w - self._prev_w) > lim.max_weight_step + 1e-6:
            self._violate(t, f"weight step {abs(w - self._prev_w):.6f} > {lim.max_weight_step:.6f}")
        if np.any(kp < 0) or np.any(kp > lim.kp_max) or np.any(kd < 0) or np.any(kd > lim.kd_max):
            self._violate(t, "gains out of bounds")
        self._prev_q, self._prev_w, self._prev_t = q, w, t

    def summary(self) -> dict[str, object]:
        """Counts for reports: commands seen, violations, largest step."""
        return {"commands": self.commands, "violations": len(self.violations), "max_step_rad": self.max_step}
