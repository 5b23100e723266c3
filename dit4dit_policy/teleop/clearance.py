"""Self-clearance limit for mink's differential IK: keeps geom pairs at least ``d_min`` apart.

For a geom pair at signed distance ``d`` (MuJoCo ``mj_geomDistance``; witness points ``p₁`` on
geom a and ``p₂`` on geom b, unit normal ``n = (p₂ − p₁)/|p₂ − p₁|``, flipped when penetrating),
the distance changes to first order by ``n·(J₂ − J₁)·Δq`` for a joint displacement ``Δq``
(J = translational Jacobians of the witness points). Within the detection distance each pair adds
the inequality

    −n·(J₂ − J₁)·Δq ≤ gain·(d − d_min),

so the gap may close by at most a fraction ``gain`` of its margin per step, and a pair already
closer than ``d_min`` (curvature, a start inside the margin) is pushed apart by up to
``max_push_m`` per step. This is the velocity-damper formulation mink's own
``CollisionAvoidanceLimit`` documents; mink 1.3 divides that bound by dt although its QP variable
is the displacement Δq (its other limits use ``v_max·dt``), which leaves the bound ~1/dt too loose
— at 60 Hz arms closed the 2 cm margin and touched in our tests — hence this limit.

Torch-free.
"""

from __future__ import annotations

from collections.abc import Sequence

import mink
import mujoco
import numpy as np


class ClearanceLimit(mink.Limit):
    """Minimum-distance limit between two groups of geoms per pair.

    Args:
        model: the IK model.
        geom_pairs: (group A geom ids, group B geom ids) tuples; every geom of A is kept away from
            every geom of B (pairs on one rigid body or on a parent/child body pair are skipped).
        min_distance_m: smallest allowed distance [m].
        detection_distance_m: pairs farther apart than this are ignored [m].
        gain: fraction of the margin that may close per step, in (0, 1].
        max_push_m: largest separation demanded per step from a pair inside the margin [m].

    Raises:
        ValueError: distances or gain out of range.
    """

    def __init__(
        self,
        model: mujoco.MjModel,
        geom_pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
        min_distance_m: float = 0.02,
        detection_distance_m: float = 0.08,
        gain: float = 0.5,
        max_push_m: float = 0.003,
    ) -> None:
        if not 0.0 <= min_distance_m < detection_distance_m:
            raise ValueError(
                "need 0 <= min_distance_m < detection_distance_m, "
                f"got {min_distance_m}, {detection_distance_m}"
            )
        if not 0.0 < gain <= 1.0 or not max_push_m > 0:
            raise ValueError(f"gain must be in (0, 1] and max_push_m > 0, got {gain}, {max_push_m}")
        self.model = model
        self.min_distance_m = float(min_distance_m)
        self.detection_distance_m = float(detection_distance_m)
        self.gain = float(gain)
        self.max_push_m = float(max_push_m)
        weld = model.body_weldid
        parent = model.body_parentid
        pairs = set()
        for group_a, group_b in geom_pairs:
            for a in group_a:
                for b in group_b:
                    body_a, body_b = int(model.geom_bodyid[a]), int(model.geom_bodyid[b])
                    if weld[body_a] == weld[body_b]:
                        continue
                    if (
                        weld[parent[weld[body_a]]] == weld[body_b]
                        or weld[parent[weld[body_b]]] == weld[body_a]
                    ):
                        continue
                    pairs.add((min(int(a), int(b)), max(int(a), int(b))))
        self.pairs = sorted(pairs)
        self._fromto = np.zeros(6)
        self._jac_a = np.zeros((3, model.nv))
        self._jac_b = np.zeros((3, model.nv))

    def distances(self, data: mujoco.MjData) -> np.ndarray:
        """(P,) signed distances [m] of all pairs (capped at the detection distance)."""
        return np.array(
            [
                mujoco.mj_geomDistance(self.model, data, a, b, self.detection_distance_m, self._fromto)
                for a, b in self.pairs
            ]
        )

    def compute_qp_inequalities(self, configuration: mink.Configuration, dt: float) -> mink.Constraint:
        """Rows ``G·Δq ≤ h`` for the pairs within the detection distance (mink's Limit interface)."""
        del dt  # displacement bounds do not depend on the step length
        model, data = self.model, configuration.data
        rows, bounds = [], []
        for a, b in self.pairs:
            distance = mujoco.mj_geomDistance(model, data, a, b, self.detection_distance_m, self._fromto)
            if distance >= self.detection_distance_m:
                continue
            p_a, p_b = self._fromto[:3], self._fromto[3:]
            normal = p_b - p_a
            length = float(np.linalg.norm(normal))
            if length < 1e-9:
                continue
            normal /= length
            if distance < 0:
                normal = -normal
            mujoco.mj_jac(model, data, self._jac_a, None, p_a, model.geom_bodyid[a])
            mujoco.mj_jac(model, data, self._jac_b, None, p_b, model.geom_bodyid[b])
            rows.append(-(normal @ (self._jac_b - self._jac_a)))
            bounds.append(max(self.gain * (distance - self.min_distance_m), -self.max_push_m))
        if not rows:
            return mink.Constraint()
        return mink.Constraint(G=np.array(rows), h=np.array(bounds))
