"""The bridge's ego camera (frame sink on its own thread) and its status object, in process."""

import threading

import numpy as np
import pytest

from dit4dit_policy.sim import protocol
from dit4dit_policy.sim.bridge import BridgeConfig, SimBridge
from dit4dit_policy.sim.env import EnvConfig, G1TabletopEnv
from dit4dit_policy.sim.scene import SceneConfig


def test_frames_reach_the_sink_at_the_camera_rate(dds_domain):
    frames, stamps = [], []
    done = threading.Event()

    def on_frame(rgb, stamp_ns):
        frames.append(rgb)
        stamps.append(stamp_ns)
        if len(frames) >= 8:
            done.set()

    config = BridgeConfig(
        domain_id=dds_domain,
        task="stack_cups",
        seed=3,
        realtime=False,
        camera_rate_hz=30.0,
        scene=SceneConfig(image_width=96, image_height=80),
    )
    with SimBridge(config, on_frame=on_frame) as bridge:
        bridge.run(duration_s=60.0, stop=done)
        sim_time = bridge.status()["elapsed_s"]
        status = bridge.status()
    assert len(frames) >= 8
    assert all(f.shape == (80, 96, 3) and f.dtype == np.uint8 for f in frames)
    assert stamps == sorted(stamps)
    # As fast as possible: frames are rendered synchronously at 30 Hz of simulated time.
    assert len(frames) == pytest.approx(sim_time * 30.0, abs=2)
    # The bridge renders through the same camera path as the in-process environment.
    env = G1TabletopEnv("stack_cups", EnvConfig(scene=SceneConfig(image_width=96, image_height=80)))
    obs, _ = env.reset(seed=3)
    env.close()
    assert np.abs(frames[0].astype(float) - obs["image"].astype(float)).mean() < 6.0
    assert set(protocol.STATUS_KEYS) <= set(status)
    assert status["counters"]["frames_requested"] >= 8


def test_bridge_config_rejects_bad_values():
    with pytest.raises(ValueError, match="task"):
        BridgeConfig(task="fly")
    with pytest.raises(ValueError, match="camera_rate_hz"):
        BridgeConfig(camera_rate_hz=-1)
    with pytest.raises(ValueError, match="domain"):
        BridgeConfig(domain_id=999)
