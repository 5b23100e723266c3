"""A fake G1 for tests: publishes rt/lowstate at 500 Hz and checks every command it receives.

Run as a separate process (``python tests/robot/g1_fake_robot.py --domain N --report out.json``).
It decodes commands with cyclonedds' own deserialiser and checks the CRC with the struct-based
packer (crc.pack_lowcmd), independently of the controller's numpy fast path. Per command it
checks: CRC, mode_machine, arm motors enabled, arm q within the joint limits (minus --margin),
|Δq| per command <= --step (+ float32 rounding), weight in [0, 1] and |Δweight| <= --weight-step,
kp/kd within bounds, legs/waist untouched (arm_sdk). The arm follows the blend
``w·q_cmd + (1-w)·q_home`` with a 20 ms lag, like a robot whose own controller holds its
initial pose q_home.

Fault injection (seconds after start): --bad-crc-from, --mode-machine-from, --silence-from,
--nan-from. The JSON report (written on exit or SIGTERM) lists counts, the first violations, and
the (time, weight, q) series of received commands (time: ``time.monotonic() - t0_monotonic``,
the system-wide monotonic clock, so other processes can place their own events in it).
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time

import numpy as np

from dit4dit_policy import schema
from dit4dit_policy.robot import crc, unitree_hg, wire
from dit4dit_policy.robot.dds import DdsSession

ARM = np.array(schema.ARM_MOTOR_INDICES)


def parse(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--domain", type=int, required=True)
    p.add_argument("--report", required=True)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--rate", type=float, default=500.0)
    p.add_argument("--topic", default="rt/arm_sdk")
    p.add_argument("--mode-machine", type=int, default=5)
    p.add_argument("--margin", type=float, default=0.0)
    p.add_argument("--step", type=float, required=True, help="max |dq| per command [rad]")
    p.add_argument("--weight-step", type=float, required=True, help="max |dw| per command")
    p.add_argument("--kp-max", type=float, default=150.0)
    p.add_argument("--kd-max", type=float, default=10.0)
    p.add_argument("--init", type=float, nargs=14, default=None, help="initial arm q [rad]")
    p.add_argument("--bad-crc-from", type=float, default=math.inf)
    p.add_argument("--mode-machine-from", type=float, default=math.inf)
    p.add_argument("--silence-from", type=float, default=math.inf)
    p.add_argument("--nan-from", type=float, default=math.inf)
    return p.parse_args(argv)


class FakeG1:
    def __init__(self, args):
        from cyclonedds.pub import DataWriter
        from cyclonedds.qos import Policy, Qos
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic

        self.args = args
        self.session = DdsSession(args.domain)
        part = self.session.participant
        self.writer = DataWriter(part, Topic(part, "rt/lowstate", unitree_hg.LowState_))
        # Reliable and deep: every command must be seen to check the step and weight bounds.
        qos = Qos(Policy.Reliability.Reliable(max_blocking_time=100_000_000), Policy.History.KeepLast(1000))
        self.reader = DataReader(part, Topic(part, args.topic, unitree_hg.LowCmd_), qos=qos)
        self.q = np.array(args.init if args.init else [0.0] * 14, dtype=np.float64)
        self.q_home = self.q.copy()  # the robot's own controller holds the pose it started in
        self.q_cmd = self.q.copy()
        self.weight = 0.0
        self.state = wire.new_lowstate_array()
        self.tick = 0
        self.received = 0
        self.violations = []
        self.series = []
        self.prev_q = None
        self.prev_w = None
        self.prev_t = 0.0
        self.stop = False
        self.t0 = time.monotonic()  # series times are time.monotonic() - t0 (same clock as other processes)
        self.lower = schema.POSITION_LOWER[:14] + args.margin - 1e-5
        self.upper = schema.POSITION_UPPER[:14] - args.margin + 1e-5

    def violation(self, t, text):
        if len(self.violations) < 50:
            self.violations.append(f"t={t:.3f}s cmd#{self.received}: {text}")

    def check(self, msg, t):
        a = self.args
        self.received += 1
        if crc.lowcmd_crc(msg) != msg.crc:
            self.violation(t, f"CRC {msg.crc} != {crc.lowcmd_crc(msg)}")
        if msg.mode_machine != a.mode_machine:
            self.violation(t, f"mode_machine {msg.mode_machine} != {a.mode_machine}")
        q = np.array([msg.motor_cmd[i].q for i in ARM])
        kp = np.array([msg.motor_cmd[i].kp for i in ARM])
        kd = np.array([msg.motor_cmd[i].kd for i in ARM])
        modes = [msg.motor_cmd[i].mode for i in ARM]
        w = msg.motor_cmd[schema.ARM_SDK_WEIGHT_INDEX].q if a.topic == "rt/arm_sdk" else 1.0
        if any(m != 1 for m in modes):
            self.violation(t, f"arm motor modes {modes}")
        if not np.all(np.isfinite(q)) or np.any(q < self.lower) or np.any(q > self.upper):
            self.violation(t, f"arm q outside limits: {np.round(q, 4).tolist()}")
        if self.prev_w == 0.0 and t - self.prev_t > 0.1:
            # A new session after the arms were handed back (weight 0, silence): its first command
            # is the measured pose, which the step bound does not relate to the old session's last.
            self.prev_q = None
        if self.prev_q is not None and np.max(np.abs(q - self.prev_q)) > a.step + 2e-6:
            self.violation(t, f"step {np.max(np.abs(q - self.prev_q)):.6f} > {a.step:.6f}")
        if not (0.0 <= w <= 1.0):
            self.violation(t, f"weight {w} outside [0, 1]")
        if self.prev_w is not None and abs(w - self.prev_w) > a.weight_step + 1e-6:
            self.violation(t, f"weight step {abs(w - self.prev_w):.6f} > {a.weight_step:.6f}")
        if np.any(kp < 0) or np.any(kp > a.kp_max) or np.any(kd < 0) or np.any(kd > a.kd_max):
            self.violation(t, f"gains out of bounds kp={kp.tolist()} kd={kd.tolist()}")
        if a.topic == "rt/arm_sdk":
            body = [(msg.motor_cmd[i].mode, msg.motor_cmd[i].kp) for i in range(15)]
            if any(m != 0 or k != 0 for m, k in body):
                self.violation(t, "arm_sdk command touches legs/waist")
        self.prev_q, self.prev_w, self.prev_t = q, w, t
        self.q_cmd, self.weight = q, w
        self.series.append([round(t, 5), float(w), *[float(x) for x in q]])

    def publish(self, t, dt):
        a = self.args
        if t >= a.silence_from:
            return
        target = self.weight * self.q_cmd + (1.0 - self.weight) * self.q_home
        self.q += (target - self.q) * (1.0 - math.exp(-dt / 0.02))
        motors = self.state["motor_state"]
        motors["q"][ARM] = self.q
        motors["dq"][ARM] = 0.0
        if t >= a.nan_from:
            motors["q"][ARM[3]] = np.nan
        self.state["mode_machine"] = a.mode_machine if t < a.mode_machine_from else a.mode_machine + 1
        self.tick += 1
        self.state["tick"] = self.tick
        data = wire.lowstate_to_cdr(self.state)
        if t >= a.bad_crc_from:
            data = data[:-4] + ((int(self.state["crc"]) ^ 0x5A5A) & 0xFFFFFFFF).to_bytes(4, "little")
        wire.write_raw(self.writer, data)

    def run(self):
        period = 1.0 / self.args.rate
        t0 = self.t0 = time.monotonic()
        k = 0
        last = t0
        while not self.stop:
            now = time.monotonic()
            t = now - t0
            if t > self.args.duration:
                break
            for msg in self.reader.take(N=64):
                if hasattr(msg, "motor_cmd"):
                    self.check(msg, t)
            self.publish(t, now - last)
            last = now
            k += 1
            delay = t0 + k * period - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def report(self):
        return {
            "received": self.received,
            "published": self.tick,
            "violations": self.violations,
            "series": self.series,
            "final_q": self.q.tolist(),
            "t0_monotonic": self.t0,
        }


def main(argv=None):
    args = parse(argv if argv is not None else sys.argv[1:])
    robot = FakeG1(args)

    def on_term(signum, frame):
        robot.stop = True

    signal.signal(signal.SIGTERM, on_term)
    try:
        robot.run()
    finally:
        with open(args.report + ".tmp", "w") as f:
            json.dump(robot.report(), f)
        import os

        os.replace(args.report + ".tmp", args.report)


if __name__ == "__main__":
    main()
