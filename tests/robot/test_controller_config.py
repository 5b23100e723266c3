"""ControllerConfig through dit4dit_policy.config: YAML, overrides, ROS parameter files, bad input."""

import pytest
import yaml

from dit4dit_policy import config
from dit4dit_policy.errors import ConfigError
from dit4dit_policy.robot.controller import ControllerConfig, G1Controller

YAML = """
link: {domain_id: 0, interface: enp3s0, allowed_mode_machines: [4, 5]}
loop: {rate_hz: 500, realtime_priority: 80}
safety: {max_velocity_rad_s: 2.0, position_margin_rad: 0.08}
supervisor:
  start_pose: [0.1, 0.2, 0.0, 0.5, 0.0, 0.0, 0.0, 0.1, -0.2, 0.0, 0.5, 0.0, 0.0, 0.0, 1.0, 1.0]
  ramp_out_s: 3.0
scheduler: {strategy: ensemble, ensemble_decay: 0.01}
grippers: {kind: sim}
gains: {arm_kp: [60, 60, 60, 60, 40, 40, 40, 60, 60, 60, 60, 40, 40, 40]}
"""


def test_yaml_and_overrides(tmp_path):
    path = tmp_path / "controller.yaml"
    path.write_text(YAML)
    cfg = config.load(ControllerConfig, path, ["--scheduler.strategy=rtc", "--link.interface=enp2s0"])
    assert (
        cfg.link.domain_id == 0
        and cfg.link.interface == "enp2s0"
        and cfg.link.allowed_mode_machines == [4, 5]
    )
    assert cfg.loop.rate_hz == 500.0 and cfg.loop.realtime_priority == 80
    assert cfg.scheduler.strategy == "rtc" and cfg.supervisor.ramp_out_s == 3.0
    assert cfg.supervisor.start_pose[3] == 0.5 and cfg.grippers.kind == "sim" and cfg.gains.arm_kp[0] == 60
    controller = G1Controller(cfg)  # builds limits for the 500 Hz period without connecting
    assert controller.limits.step[0] == pytest.approx(2.0 / 500)


def test_defaults_are_sim_safe():
    cfg = config.load(ControllerConfig)
    assert (cfg.link.domain_id, cfg.link.interface) == (1, "lo")  # never the real robot by default
    assert not cfg.link.lowcmd_debug_mode and cfg.link.verify_state_crc
    assert cfg.loop.rate_hz == 250.0 and not cfg.auto_start
    assert cfg.supervisor.rest_pose[:14] == [0.0] * 14  # Unitree "home"


def test_ros_parameter_file(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"controller": {"ros__parameters": yaml.safe_load(YAML)}}))
    cfg = config.load_ros_params(ControllerConfig, path, "controller")
    assert cfg.link.interface == "enp3s0" and cfg.scheduler.strategy == "ensemble"


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("--link.domain=3", "unknown key 'link.domain'"),
        ("--loop.rate_hz=5000", "loop.rate_hz"),
        ("--safety.max_velocity_rad_s=50", "safety.max_velocity_rad_s"),
        ("--supervisor.ramp_in_s=0.5", "supervisor.ramp_in_s"),
        ("--supervisor.start_pose=[0, 0]", "supervisor.start_pose"),
        ("--scheduler.strategy=latest", "strategy"),
        ("--grippers.kind=robotiq", "grippers.kind"),
        ("--gains.arm_kp=[1, 2]", "gains.arm_kp"),
        ("--link.body_kp=[1000]", "link.body_kp"),
        ("--link.interface=5", "interface"),
    ],
)
def test_bad_values_name_the_key(override, needle):
    with pytest.raises(ConfigError, match=needle.replace("[", r"\[")):
        config.load(ControllerConfig, None, [override])
