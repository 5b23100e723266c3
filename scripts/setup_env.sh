#!/usr/bin/env bash
# Create or update the project's virtual environment (.venv) with everything the tests and the
# demo need. Idempotent: when nothing that affects the environment changed, it exits in well
# under a second and prints nothing.
#
# Works on a fresh Debian 12 / Ubuntu 22.04+ machine with only Python 3.10-3.12 and root or sudo:
#   * system packages (apt): CycloneDDS 0.10.x C library (Python >= 3.11 has no 0.10.x wheel),
#     Mesa EGL/OSMesa for offscreen MuJoCo rendering, Chromium for the WebXR page test;
#   * torch: the pinned CPU build on machines without an NVIDIA driver, the default (CUDA) build
#     where nvidia-smi works;
#   * cyclonedds==0.10.2 built against the system library through a prefix kept inside the venv;
#   * this package with all optional groups, editable.
#
# Environment: PYTHON (interpreter, default python3), VENV (default .venv), DIT4DIT_SKIP_APT=1 to
# skip apt (install the packages yourself), DIT4DIT_FORCE_SETUP=1 to redo everything.
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TORCH_VERSION=2.13.0
CYCLONEDDS_VERSION=0.10.2
STAMP="$VENV/.dit4dit-setup"

fingerprint() {
  # Everything that changes what gets installed.
  cat setup.py pyproject.toml scripts/setup_env.sh | sha256sum | cut -d' ' -f1
}

want=$(fingerprint)
if [[ -z "${DIT4DIT_FORCE_SETUP:-}" && -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$VENV/bin/python" ]]; then
  exit 0
fi

log() { printf '[setup] %s\n' "$*"; }
quiet_pip() {
  # pip, without the noise of unreachable mirror entries some machines configure.
  local out rc
  set +e
  out=$(PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@" 2>&1)
  rc=$?
  set -e
  printf '%s\n' "$out" | grep -v -E "is ignored: it is neither a file nor a directory|^$" >&2 || true
  return $rc
}

py_minor=$("$PYTHON" -c 'import sys; print(sys.version_info.minor)')
py_major=$("$PYTHON" -c 'import sys; print(sys.version_info.major)')
if [[ "$py_major" != 3 || "$py_minor" -lt 10 || "$py_minor" -gt 12 ]]; then
  echo "error: Python 3.10-3.12 required, $PYTHON is $py_major.$py_minor" >&2
  exit 1
fi

# --- system packages -------------------------------------------------------------------------
apt_packages=(libegl1 libgl1 libosmesa6 chromium)
if (( py_minor >= 11 )); then
  apt_packages+=(cyclonedds-dev)
fi
missing=()
for pkg in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if (( ${#missing[@]} )) && [[ -z "${DIT4DIT_SKIP_APT:-}" ]]; then
  if command -v apt-get >/dev/null; then
    SUDO=""
    [[ $(id -u) -ne 0 ]] && SUDO="sudo"
    log "apt-get install ${missing[*]}"
    $SUDO apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    log "warning: no apt-get; install these yourself: ${missing[*]}"
  fi
fi

# --- virtual environment ---------------------------------------------------------------------
if [[ ! -x "$VENV/bin/python" ]]; then
  log "creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi

# --- torch: pinned; CPU build unless an NVIDIA driver is present ------------------------------
if ! "$VENV/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
  if command -v nvidia-smi >/dev/null && nvidia-smi >/dev/null 2>&1; then
    log "installing torch==$TORCH_VERSION (CUDA build)"
    quiet_pip install "torch==$TORCH_VERSION"
  else
    log "installing torch==$TORCH_VERSION (CPU build)"
    # A local wheel store or mirror may carry the +cpu build; otherwise use PyTorch's CPU index.
    quiet_pip install "torch==$TORCH_VERSION+cpu" \
      || quiet_pip install --index-url https://download.pytorch.org/whl/cpu "torch==$TORCH_VERSION"
  fi
fi

# --- CycloneDDS 0.10.x (wire-compatible with Unitree's SDK; 11.x is not) ----------------------
if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(0 if m.version('cyclonedds').startswith('0.10') else 1)" 2>/dev/null; then
  if (( py_minor >= 11 )); then
    # No 0.10.x wheel for 3.11+: build against the system library through a stable prefix.
    prefix="$(pwd)/$VENV/cyclonedds"
    multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
    mkdir -p "$prefix"
    ln -sfn /usr/include "$prefix/include"
    ln -sfn /usr/bin "$prefix/bin"
    ln -sfn "/usr/lib/$multiarch" "$prefix/lib"
    log "building cyclonedds==$CYCLONEDDS_VERSION against the system CycloneDDS"
    CYCLONEDDS_HOME="$prefix" quiet_pip install "cyclonedds==$CYCLONEDDS_VERSION"
  else
    log "installing cyclonedds==$CYCLONEDDS_VERSION"
    quiet_pip install "cyclonedds==$CYCLONEDDS_VERSION"
  fi
fi

# --- this package with every optional group ---------------------------------------------------
log "installing dit4dit_policy[all,dev] (editable)"
quiet_pip install -e ".[all,dev]"

# Unitree's Python SDK (types only) for the wire-equivalence tests; --no-deps because its metadata
# asks for the non-headless opencv-python (its imports need only cyclonedds and numpy).
if ! "$VENV/bin/python" -c "import importlib.metadata as m; m.version('unitree-sdk2py-dimos')" 2>/dev/null; then
  quiet_pip install --no-deps "unitree-sdk2py-dimos==1.0.3" || log "warning: unitree_sdk2py unavailable; SDK equivalence tests will skip"
fi

# --- a separate venv with the unofficial ROS 2 wheels (rclpy + Fast DDS) for the rclpy-backend tests.
# Kept apart because its bootstrap .pth re-executes every Python process of its venv
# (reference/environment.md, "ROS 2"). Skip with DIT4DIT_SKIP_RCLPY=1.
RCLPY_VENV=${RCLPY_VENV:-.venv-rclpy}
if [[ -z "${DIT4DIT_SKIP_RCLPY:-}" ]] && (( py_minor == 11 )); then
  if [[ ! -x "$RCLPY_VENV/bin/python" ]]; then
    log "creating $RCLPY_VENV (rclpy wheels for the rclpy-backend tests)"
    "$PYTHON" -m venv "$RCLPY_VENV"
  fi
  VENV="$RCLPY_VENV" quiet_pip install ros-rclpy ros-std-msgs ros-sensor-msgs ros-trajectory-msgs \
    ros-diagnostic-msgs ros-lifecycle-msgs ros-rmw-fastrtps-cpp numpy pyyaml av \
    || log "warning: rclpy wheels unavailable; rclpy-backend tests will skip"
  VENV="$RCLPY_VENV" quiet_pip install --no-deps -e . || true
fi

"$VENV/bin/python" - <<'EOF'
import importlib.metadata as m
import torch
assert m.version("cyclonedds").startswith("0.10"), m.version("cyclonedds")
print(f"[setup] ready: torch {torch.__version__}, cyclonedds {m.version('cyclonedds')}, "
      f"mujoco {m.version('mujoco')}, diffusers {m.version('diffusers')}")
EOF
echo "$want" > "$STAMP"
