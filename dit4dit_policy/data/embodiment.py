"""Embodiments: how a robot's raw state/action vectors split into named keys.

Also which action dims are normalised.

The key layout is GR00T's ``modality.json`` convention that DiT4DiT's loaders use
(model_spec §4 "State", g1_spec §6.4): the state is transformed per key (sin/cos), actions are
min/max normalised per dim except the dims an embodiment keeps raw (LIBERO's binary gripper).

Torch-free; used by the transforms (training and inference) and by dataset tools.
"""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from dit4dit_policy import schema


@dataclasses.dataclass(frozen=True)
class KeySlice:
    """A named contiguous slice of a raw state or action vector.

    Attributes:
        name: key name without prefix, e.g. ``"left_arm"`` (``state.left_arm`` in modality.json).
        start: first index in the raw vector.
        stop: one past the last index.
    """

    name: str
    start: int
    stop: int

    def __post_init__(self) -> None:
        if not (0 <= self.start < self.stop):
            raise ValueError(f"key '{self.name}' needs 0 <= start < stop, got [{self.start}, {self.stop})")

    @property
    def size(self) -> int:
        """Number of dims of the key."""
        return self.stop - self.start


def _contiguous(keys: tuple[KeySlice, ...], what: str) -> int:
    position = 0
    for key in keys:
        if key.start != position:
            raise ValueError(f"{what} keys must tile the vector in order; '{key.name}' starts at {key.start}")
        position = key.stop
    return position


@dataclasses.dataclass(frozen=True)
class Embodiment:
    """Layout of one robot's data.

    Attributes:
        name: registry name (``g1_16dof``, ``gr1_29dof``, ``franka_libero``).
        state_keys: slices of the raw state vector, tiling it in order.
        action_keys: slices of the raw action vector, tiling it in order.
        video_keys: LeRobot image features, concatenated side by side (along width) in this order.
        raw_action_dims: action dims that are *not* min/max normalised (kept raw; LIBERO gripper).
        binary_action_dims: action dims thresholded at 0.5 after un-normalisation (LIBERO gripper,
            model_spec §4 "Output un-normalisation").
        joint_names: names of the raw action dims (for messages and reports), if known.
        key_aliases: other spellings of a key in modality.json files as ``("state.<key>",
            (per-dimension keys, in order))`` pairs; used when the key itself is absent or has
            another width (starVLA/DiT4DiT's LIBERO ``modality.json`` names every dimension:
            ``x, y, z, roll, pitch, yaw, pad, gripper``).
    """

    name: str
    state_keys: tuple[KeySlice, ...]
    action_keys: tuple[KeySlice, ...]
    video_keys: tuple[str, ...]
    raw_action_dims: tuple[int, ...] = ()
    binary_action_dims: tuple[int, ...] = ()
    joint_names: tuple[str, ...] = ()
    key_aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        state_dim = _contiguous(self.state_keys, "state")
        action_dim = _contiguous(self.action_keys, "action")
        for dim in (*self.raw_action_dims, *self.binary_action_dims):
            if not 0 <= dim < action_dim:
                raise ValueError(f"embodiment '{self.name}': action dim {dim} out of range [0, {action_dim})")
        if self.joint_names and len(self.joint_names) != action_dim:
            raise ValueError(
                f"embodiment '{self.name}': {len(self.joint_names)} joint names for {action_dim} dims"
            )
        if not self.video_keys:
            raise ValueError(f"embodiment '{self.name}' needs at least one video key")
        del state_dim

    @property
    def state_dim(self) -> int:
        """Raw state dimension."""
        return self.state_keys[-1].stop

    @property
    def action_dim(self) -> int:
        """Raw action dimension."""
        return self.action_keys[-1].stop

    @property
    def sincos_state_dim(self) -> int:
        """State dimension after the per-key sin/cos transform (2 × raw)."""
        return 2 * self.state_dim


def _keys(*spec: tuple[str, int]) -> tuple[KeySlice, ...]:
    keys, start = [], 0
    for name, size in spec:
        keys.append(KeySlice(name, start, start + size))
        start += size
    return tuple(keys)


_G1_KEYS = _keys(("left_arm", 7), ("right_arm", 7), ("left_gripper", 1), ("right_gripper", 1))

#: Registry of known embodiments, selectable by name.
EMBODIMENTS = MappingProxyType(
    {
        # Unitree G1, two 7-DoF arms + two 1-D grippers, one ego camera (g1_spec §6.4).
        "g1_16dof": Embodiment(
            name="g1_16dof",
            state_keys=_G1_KEYS,
            action_keys=_G1_KEYS,
            video_keys=(schema.FEATURE_IMAGE_EGO,),
            joint_names=schema.JOINT_NAMES,
        ),
        # Fourier GR1 arms + hands + waist (RoboCasa-GR1; GR00T ``fourier_gr1_arms_waist``).
        "gr1_29dof": Embodiment(
            name="gr1_29dof",
            state_keys=_keys(
                ("left_arm", 7), ("right_arm", 7), ("left_hand", 6), ("right_hand", 6), ("waist", 3)
            ),
            action_keys=_keys(
                ("left_arm", 7), ("right_arm", 7), ("left_hand", 6), ("right_hand", 6), ("waist", 3)
            ),
            video_keys=("observation.images.ego_view",),
        ),
        # Franka on LIBERO: 8-D state (eef xyz, axis-angle, 2 gripper), 7-D delta action
        # (xyz, rpy, gripper kept raw and thresholded); primary + wrist views side by side.
        "franka_libero": Embodiment(
            name="franka_libero",
            state_keys=_keys(("eef_pos", 3), ("eef_rot", 3), ("gripper", 2)),
            action_keys=_keys(("delta_pos", 3), ("delta_rot", 3), ("gripper", 1)),
            video_keys=("observation.images.image", "observation.images.wrist_image"),
            raw_action_dims=(6,),
            binary_action_dims=(6,),
            # starVLA/DiT4DiT examples/LIBERO/train_files/modality.json spells out every dim; its
            # state "pad" + "gripper" are the two gripper joints, its 1-D action "gripper" matches.
            key_aliases=(
                ("state.eef_pos", ("x", "y", "z")),
                ("state.eef_rot", ("roll", "pitch", "yaw")),
                ("state.gripper", ("pad", "gripper")),
                ("action.delta_pos", ("x", "y", "z")),
                ("action.delta_rot", ("roll", "pitch", "yaw")),
            ),
        ),
    }
)


def get_embodiment(name: str) -> Embodiment:
    """Look up an embodiment by name.

    Raises:
        KeyError: unknown name (the message lists the known ones).
    """
    try:
        return EMBODIMENTS[name]
    except KeyError:
        raise KeyError(f"unknown embodiment {name!r}; known: {', '.join(sorted(EMBODIMENTS))}") from None
