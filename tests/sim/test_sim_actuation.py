"""The robot's PD law blended with the built-in posture controller (sim/actuation.py)."""

import mujoco
import numpy as np
import pytest

from dit4dit_policy import schema
from dit4dit_policy.sim import description as desc
from dit4dit_policy.sim.actuation import (
    NUM_SIM_MOTORS,
    POSTURE_KD,
    POSTURE_KP,
    POSTURE_Q,
    MotorCommand,
    MotorController,
)
from dit4dit_policy.sim.scene import SceneBuilder, SceneConfig


@pytest.fixture(scope="module")
def scene():
    return SceneBuilder(SceneConfig()).compile()


def _random_command(rng):
    return MotorCommand(
        q=rng.uniform(-0.5, 0.5, NUM_SIM_MOTORS),
        dq=rng.uniform(-0.2, 0.2, NUM_SIM_MOTORS),
        tau=rng.uniform(-1, 1, NUM_SIM_MOTORS),
        kp=rng.uniform(10, 60, NUM_SIM_MOTORS),
        kd=rng.uniform(0.5, 2, NUM_SIM_MOTORS),
        enabled=rng.random(NUM_SIM_MOTORS) > 0.2,
        commanded=np.ones(NUM_SIM_MOTORS, dtype=bool),
    )


@pytest.mark.parametrize("weight", [0.0, 0.3, 1.0])
def test_motor_torque_is_the_blended_pd_law(scene, weight):
    rng = np.random.default_rng(int(weight * 10))
    controller = MotorController(scene)
    data = scene.data
    mujoco.mj_resetData(scene.model, data)
    q = rng.uniform(-0.3, 0.3, NUM_SIM_MOTORS)
    dq = rng.uniform(-0.5, 0.5, NUM_SIM_MOTORS)
    data.qpos[scene.motor_qadr] = q
    data.qvel[scene.motor_dadr] = dq
    command = _random_command(rng)
    controller.set(command, weight, gravity_feedforward=False)
    mujoco.mj_forward(scene.model, data)
    on = command.enabled
    user = np.where(on, command.kp * (command.q - q) + command.kd * (command.dq - dq) + command.tau, 0.0)
    posture = POSTURE_KP * (POSTURE_Q - q) - POSTURE_KD * dq
    expected = np.clip(weight * user + (1 - weight) * posture, -desc.SIM_MOTOR_EFFORT, desc.SIM_MOTOR_EFFORT)
    assert data.actuator_force[scene.motor_actuators] == pytest.approx(expected, rel=1e-6, abs=1e-6)
    # Gravity compensation follows the posture share only (the user's tau is applied as received).
    assert scene.model.body_gravcomp[scene.robot_body_ids] == pytest.approx(1.0 - weight)


def test_gravity_feedforward_and_uncommanded_waist(scene):
    controller = MotorController(scene)
    command = MotorCommand.hold_arms(np.zeros(14))
    controller.set(command, 1.0, gravity_feedforward=True)
    assert scene.model.body_gravcomp[scene.robot_body_ids] == pytest.approx(1.0)
    # The waist is not commanded by hold_arms: it keeps the posture gains even at weight 1.
    assert -scene.model.actuator_biasprm[scene.motor_actuators[:3], 1] == pytest.approx(POSTURE_KP[:3])
    assert -scene.model.actuator_biasprm[scene.motor_actuators[3:], 1] == pytest.approx(schema.ARM_KP_DEFAULT)


def test_held_target_is_reached_and_weight_zero_goes_home(scene):
    controller = MotorController(scene)
    model, data = scene.model, scene.data
    mujoco.mj_resetData(model, data)
    target = desc.DEFAULT_ARM_POSE + np.tile([-0.2, 0.1, 0.1, -0.3, 0.1, 0.2, 0.1], 2)
    scene.set_robot_state(desc.DEFAULT_ARM_POSE, np.ones(2))
    controller.set(MotorCommand.hold_arms(target), 1.0, gravity_feedforward=True)
    for _ in range(1000):
        mujoco.mj_step(model, data)
    assert np.max(np.abs(scene.arm_q() - target)) < 2e-3
    controller.set(MotorCommand.hold_arms(target), 0.0, gravity_feedforward=False)
    for _ in range(1000):
        mujoco.mj_step(model, data)
    assert np.max(np.abs(scene.arm_q() - desc.DEFAULT_ARM_POSE)) < 2e-3


def test_gripper_servo_tracks_opening(scene):
    model, data = scene.model, scene.data
    mujoco.mj_resetData(model, data)
    scene.set_robot_state(desc.DEFAULT_ARM_POSE, np.ones(2))
    controller = MotorController(scene)  # arms held at the default pose by the posture loop
    controller.set_grippers(np.array([0.0, 0.5]))
    for _ in range(250):
        mujoco.mj_step(model, data)
    assert scene.gripper_opening() == pytest.approx([0.0, 0.5], abs=0.02)
    # The mimic finger follows the driving finger (URDF <mimic> → joint equality).
    assert data.qpos[scene.mimic_qadr] == pytest.approx(data.qpos[scene.gripper_qadr], abs=1e-3)


def test_bad_inputs_are_rejected(scene):
    controller = MotorController(scene)
    with pytest.raises(ValueError, match="weight"):
        controller.set(None, 1.5, False)
    with pytest.raises(ValueError, match="opening"):
        controller.set_grippers(np.array([0.5]))
    with pytest.raises(ValueError, match=r"MotorCommand\.kp"):
        MotorCommand(
            q=np.zeros(17),
            dq=np.zeros(17),
            tau=np.zeros(17),
            kp=np.full(17, np.nan),
            kd=np.zeros(17),
            enabled=np.ones(17, bool),
            commanded=np.ones(17, bool),
        )
