"""Ego-camera rendering on its own thread, so the 500 Hz physics loop never waits for a frame.

The physics thread hands over a snapshot (joint positions and the acquisition stamp) with
:meth:`CameraThread.request`; the camera thread poses its own ``MjData`` copy, renders with
:class:`~dit4dit_policy.sim.camera.EgoCameraRenderer` (EGL contexts belong to the thread that made
them) and calls the frame sink ``on_frame(rgb, stamp_ns)``. When rendering is slower than
requested, older requests are dropped (the newest snapshot wins) and counted.

Torch-free.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from dit4dit_policy.sim.camera import EgoCameraRenderer

logger = logging.getLogger(__name__)

#: Frame sink: (H, W, 3) uint8 RGB image and its acquisition stamp [ns, system clock].
FrameSink = Callable[[np.ndarray, int], None]


class CameraThread:
    """Background renderer of the ego camera.

    Args:
        on_frame: frame sink, called on the camera thread.
        width: image width [px].
        height: image height [px].
        hidden_groups: geom groups not rendered.
    """

    def __init__(
        self, on_frame: FrameSink, width: int, height: int, hidden_groups: tuple[int, ...] = ()
    ) -> None:
        self._on_frame = on_frame
        self._size = (width, height)
        self._hidden = hidden_groups
        self._cond = threading.Condition()
        self._model: Any = None
        self._model_changed = False
        self._pending: tuple[np.ndarray, int] | None = None
        self._busy = False
        self._stop = False
        self.frames = 0
        self.dropped = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name="ego-camera", daemon=True)
        self._thread.start()

    def set_model(self, model: Any) -> None:
        """Use ``model`` (a compiled ``MjModel``) for the next frames (after a scene rebuild)."""
        with self._cond:
            self._model = model
            self._model_changed = True
            self._pending = None

    def request(self, qpos: np.ndarray, stamp_ns: int, wait: bool = False, timeout_s: float = 5.0) -> None:
        """Render the scene at joint positions ``qpos`` (copied), stamped ``stamp_ns``.

        Args:
            qpos: (nq,) positions of the current model.
            stamp_ns: acquisition time of the snapshot [ns].
            wait: block until this frame has been delivered (as-fast-as-possible mode).
            timeout_s: longest wait [s].
        """
        with self._cond:
            if self._pending is not None:
                self.dropped += 1
            self._pending = (np.array(qpos, dtype=np.float64), int(stamp_ns))
            self._cond.notify_all()
            if wait:
                self._cond.wait_for(
                    lambda: self._stop or (self._pending is None and not self._busy), timeout_s
                )

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (pending requests are dropped)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        import mujoco

        renderer: EgoCameraRenderer | None = None
        data: Any = None
        while True:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
                self._cond.wait_for(
                    lambda: self._stop or (self._pending is not None and self._model is not None)
                )
                if self._stop:
                    break
                if self._model_changed:
                    if renderer is not None:
                        renderer.close()
                    renderer = EgoCameraRenderer(self._model, *self._size, self._hidden)
                    data = mujoco.MjData(self._model)
                    self._model_changed = False
                qpos, stamp_ns = self._pending  # type: ignore[misc]
                self._pending = None
                self._busy = True
                model = self._model
            try:
                data.qpos[:] = qpos
                mujoco.mj_forward(model, data)
                image = renderer.render(data)  # type: ignore[union-attr]
                self._on_frame(image, stamp_ns)
                self.frames += 1
            except Exception:  # the sink belongs to another component: log, count, keep rendering
                self.errors += 1
                logger.exception("ego camera frame failed")
        if renderer is not None:
            renderer.close()
