#!/usr/bin/env bash
# Reproduce the bundled demo policy (dit4dit_policy/assets/demo_policy) from scratch on a CPU:
#
#   1. scripted demonstrations: close_drawer 200 episodes, pick_place 100, generated in parallel
#      (seeds 1000+; the evaluation uses seeds 0-19, so every evaluated scene is unseen)
#   2. the tiny preset's VAE trained as an autoencoder on those frames (~20 min on 2 cores)
#   3. the policy (config/train/demo_policy.yaml, 3000 steps, ~1.5 h on 2 cores); with
#      COMPARE_NO_VIDEO=1 also the λ = 0 comparison run (video loss off)
#   4. prompt embeddings of every simulator instruction cached in the checkpoint
#   5. 20 seeded rollouts of every task and held-out variant through the full node graph
#      (simulator bridge, controller, camera and policy as processes over loopback DDS)
#   6. the Markdown/HTML report; with INSTALL=1 the checkpoint is copied into the package
#
# Every stage resumes: finished stages are skipped, training and evaluation continue where they
# stopped. Outputs: datasets/sim/, runs/demo_policy*/, outputs/demo_policy_eval*/. FRESH=1 deletes
# those first, so nothing from an earlier run is reused (a true from-scratch reproduction). Each
# stage's start (the previous stage's end) is appended to outputs/reproduce_demo_policy.log.
#
# Environment: ROLLOUTS (default 20), TASKS (the evaluated tasks, space-separated; default all six),
# COMPARE_NO_VIDEO (0), INSTALL (0), FRESH (0), DIT4DIT (the command, default .venv/bin/dit4dit; run
# `make test` or scripts/setup_env.sh first to create .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

DIT4DIT=${DIT4DIT:-.venv/bin/dit4dit}
PYTHON=${PYTHON:-$(dirname "$DIT4DIT")/python}
ROLLOUTS=${ROLLOUTS:-20}
COMPARE_NO_VIDEO=${COMPARE_NO_VIDEO:-0}
INSTALL=${INSTALL:-0}
FRESH=${FRESH:-0}
read -r -a TASKS <<< "${TASKS:-close_drawer close_drawer_heldout pick_place pick_place_heldout stack_cups stack_cups_heldout}"

mkdir -p outputs
log() {
  printf '\n[reproduce %s] %s\n' "$(date +%H:%M:%S)" "$*"
  printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> outputs/reproduce_demo_policy.log
}

if [[ "$FRESH" == 1 ]]; then
  log "fresh: removing datasets/sim, runs/demo_policy*, outputs/demo_policy_eval*"
  rm -rf datasets/sim runs/demo_policy runs/demo_policy_vae runs/demo_policy_frames runs/demo_policy_novideo \
    outputs/demo_policy_eval outputs/demo_policy_eval_novideo
fi
log "start at $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

demos() {  # task episodes
  local out="datasets/sim/$1"
  if [[ -f "$out/meta/info.json" ]]; then
    log "demos: $out exists, skipped"
  else
    log "demos: $2 episodes of $1"
    "$DIT4DIT" demos --task "$1" --episodes "$2" --out "$out" --seed 1000
  fi
}

evaluate() {  # checkpoint out
  local task_args=()
  for task in "${TASKS[@]}"; do task_args+=(--task "$task"); done
  log "evaluation: $1 → $2 (${#TASKS[@]} tasks × $ROLLOUTS rollouts through the node graph)"
  "$DIT4DIT" eval sim --graph --policy "$1" "${task_args[@]}" --rollouts "$ROLLOUTS" --out "$2"
}

# The two tasks' demonstrations are generated side by side (one process each: MuJoCo physics plus
# offscreen rendering); on 2 cores this is no faster than one after the other, on more it is.
# Either failing stops the script.
demos close_drawer 200 & close_drawer_pid=$!
demos pick_place 100 & pick_place_pid=$!
wait "$close_drawer_pid"
wait "$pick_place_pid"

if [[ -f runs/demo_policy_vae/vae/config.json ]]; then
  log "VAE: runs/demo_policy_vae/vae exists, skipped"
else
  log "VAE: training the tiny Wan VAE on the demonstration frames"
  "$DIT4DIT" train-vae --config config/train/vae/demo_policy.yaml
fi

log "policy: training (resumes if interrupted)"
"$DIT4DIT" train --config config/train/demo_policy.yaml
if [[ "$COMPARE_NO_VIDEO" == 1 ]]; then
  log "policy, λ = 0 comparison: training"
  "$DIT4DIT" train --config config/train/demo_policy.yaml --output_dir=runs/demo_policy_novideo \
    --model.video_loss.weight=0
fi

log "prompts: caching every simulator instruction in the checkpoint"
"$PYTHON" - <<'EOF' > runs/demo_policy/sim_instructions.txt
from dit4dit_policy.sim.env import task_instructions
from dit4dit_policy.sim.tasks import task_names

for text in sorted({i for task in task_names() for i in task_instructions(task)}):
    print(text)
EOF
policy=$(readlink -f runs/demo_policy/policy)
"$DIT4DIT" cache-prompts --tasks runs/demo_policy/sim_instructions.txt --text-encoder "$policy"

evaluate "$policy" outputs/demo_policy_eval
if [[ "$COMPARE_NO_VIDEO" == 1 ]]; then
  evaluate "$(readlink -f runs/demo_policy_novideo/policy)" outputs/demo_policy_eval_novideo
  "$DIT4DIT" report outputs/demo_policy_eval --compare outputs/demo_policy_eval_novideo
fi

if [[ "$INSTALL" == 1 ]]; then
  log "install: $policy → dit4dit_policy/assets/demo_policy"
  rm -rf dit4dit_policy/assets/demo_policy.tmp
  cp -r "$policy" dit4dit_policy/assets/demo_policy.tmp
  rm -rf dit4dit_policy/assets/demo_policy
  mv dit4dit_policy/assets/demo_policy.tmp dit4dit_policy/assets/demo_policy
fi
log "done: report in outputs/demo_policy_eval/report/report.md"
