"""Frame counting of the OpenCV (V4L2/UVC) source: OpenCV gives no sequence number, so the index
advances by the frame periods between grabs and the camera node's gap counting sees drops."""

import pytest

from dit4dit_policy.robot.cameras import frames_elapsed
from dit4dit_policy.ros.camera_node import FrameStats

PERIOD_NS = 33_333_333  # 30 Hz


@pytest.mark.parametrize(
    ("gap_ns", "expected"),
    [
        (PERIOD_NS, 1),
        (int(PERIOD_NS * 1.4), 1),  # jitter below half a period: no drop
        (int(PERIOD_NS * 1.6), 2),
        (3 * PERIOD_NS, 3),
        (1_000_000, 1),  # a grab right after another still advances by one
        (-5_000_000, 1),  # the system clock stepped back: never goes backwards
    ],
)
def test_frames_elapsed(gap_ns, expected):
    assert frames_elapsed(10**12, 10**12 + gap_ns, 30.0) == expected


def test_first_frame_and_unknown_rate_count_one():
    assert frames_elapsed(None, 123, 30.0) == 1
    assert frames_elapsed(0, 10**9, 0.0) == 1


def test_node_statistics_report_the_frames_a_slow_reader_missed():
    stats = FrameStats()
    stamp, index = 10**12, 0
    # 10 grabs on time, then the reader stalls for 5 periods once, then 10 more on time.
    gaps = [PERIOD_NS] * 10 + [5 * PERIOD_NS] + [PERIOD_NS] * 10
    previous = None
    for gap in gaps:
        stamp += gap
        index += frames_elapsed(previous, stamp, 30.0)
        previous = stamp
        stats.record(index, stamp, stamp)
    assert stats.frames == len(gaps) and stats.dropped == 4
