"""A fake Dynamixel X-series servo bus on a pseudo-terminal, answering real Protocol 2.0 packets.

Implements PING, READ and WRITE (header FF FF FD 00, byte stuffing, CRC-16 poly 0x8005), a
256-byte control table, Torque_Enable gating of Operating_Mode writes (access error, as the real
servo does), and a position that moves toward Goal_Position while torque is on, stopping at an
optional "object" position when closing (current-limited squeeze).
"""

from __future__ import annotations

import os
import select
import struct
import threading
import time
import tty

HEADER = b"\xff\xff\xfd\x00"
INST_PING, INST_READ, INST_WRITE, INST_STATUS = 0x01, 0x02, 0x03, 0x55
ERR_INSTRUCTION, ERR_ACCESS = 0x02, 0x07
MODEL_XM430_W350 = 1020


def crc16(data: bytes) -> int:
    """CRC-16, poly 0x8005, init 0, MSB first (the Protocol 2.0 checksum)."""
    crc = 0
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def stuff(body: bytes) -> bytes:
    out = bytearray()
    for i, b in enumerate(body):
        out.append(b)
        if b == 0xFD and i >= 2 and body[i - 2] == 0xFF and body[i - 1] == 0xFF:
            out.append(0xFD)
    return bytes(out)


def unstuff(body: bytes) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        out.append(body[i])
        stuffed = body[i] == 0xFD and len(out) >= 3 and out[-3] == 0xFF and out[-2] == 0xFF
        if stuffed and i + 1 < len(body) and body[i + 1] == 0xFD:
            i += 1
        i += 1
    return bytes(out)


class FakeServo:
    """One servo's control table and motion."""

    def __init__(self, servo_id: int, position: int, ticks_per_s: float = 20000.0):
        self.id = servo_id
        self.table = bytearray(256)
        struct.pack_into("<H", self.table, 0, MODEL_XM430_W350)
        self.table[11] = 3  # position mode by default
        struct.pack_into("<i", self.table, 116, position)
        struct.pack_into("<i", self.table, 132, position)
        self.ticks_per_s = ticks_per_s
        self.object_at: int | None = None  # squeezing stops here when closing
        self.closing_sign = -1  # closing = decreasing ticks unless set otherwise
        self.writes: list[tuple[int, bytes]] = []

    def step(self, dt: float) -> None:
        if not self.table[64]:
            return
        goal = struct.unpack_from("<i", self.table, 116)[0]
        pos = struct.unpack_from("<i", self.table, 132)[0]
        move = max(-self.ticks_per_s * dt, min(self.ticks_per_s * dt, goal - pos))
        new = round(pos + move)
        if self.object_at is not None:
            if self.closing_sign < 0 and new < self.object_at <= pos:
                new = self.object_at
            if self.closing_sign > 0 and new > self.object_at >= pos:
                new = self.object_at
        struct.pack_into("<i", self.table, 132, new)

    def handle(self, inst: int, params: bytes) -> tuple[int, bytes]:
        if inst == INST_PING:
            return 0, self.table[0:2] + b"\x2d"
        if inst == INST_READ:
            addr, length = struct.unpack_from("<HH", params)
            return 0, bytes(self.table[addr : addr + length])
        if inst == INST_WRITE:
            addr = struct.unpack_from("<H", params)[0]
            data = params[2:]
            if addr == 11 and self.table[64]:
                return ERR_ACCESS, b""  # EEPROM area is locked while torque is on
            self.table[addr : addr + len(data)] = data
            self.writes.append((addr, bytes(data)))
            return 0, b""
        return ERR_INSTRUCTION, b""


class FakeDynamixelBus:
    """Servos behind a pseudo-terminal; ``port`` is the device path to give dynamixel-sdk."""

    def __init__(self, servos: list[FakeServo]):
        self.servos = {s.id: s for s in servos}
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.packets = 0
        self.bad_crc = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        os.close(self.master)
        os.close(self.slave)

    def _reply(self, servo_id: int, error: int, params: bytes) -> None:
        body = stuff(bytes([INST_STATUS, error]) + params)
        length = len(body) + 2
        packet = HEADER + bytes([servo_id]) + struct.pack("<H", length) + body
        os.write(self.master, packet + struct.pack("<H", crc16(packet)))

    def _parse(self, buf: bytearray) -> None:
        while True:
            start = buf.find(HEADER)
            if start < 0:
                del buf[:-3]
                return
            del buf[:start]
            if len(buf) < 7:
                return
            length = struct.unpack_from("<H", buf, 5)[0]
            if len(buf) < 7 + length:
                return
            packet = bytes(buf[: 7 + length])
            del buf[: 7 + length]
            if crc16(packet[:-2]) != struct.unpack_from("<H", packet, len(packet) - 2)[0]:
                self.bad_crc += 1
                continue
            servo_id = packet[4]
            body = unstuff(packet[7:-2])
            servo = self.servos.get(servo_id)
            self.packets += 1
            if servo is None:
                continue  # no such ID on the bus: silence (the SDK times out)
            error, params = servo.handle(body[0], body[1:])
            self._reply(servo_id, error, params)

    def _run(self) -> None:
        buf = bytearray()
        last = time.monotonic()
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.002)
            now = time.monotonic()
            for servo in self.servos.values():
                servo.step(now - last)
            last = now
            if ready:
                try:
                    buf += os.read(self.master, 4096)
                except OSError:
                    return
                self._parse(buf)
