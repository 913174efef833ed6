"""The names of a run directory's files and folders: one place, read by the harness that writes them and by the
leaderboards and reports that read them. A run lives in ``runs/<run_id>/`` (the run id: :func:`harness.runs.run_id`)::

    config.yaml          the resolved run config                                   CONFIG_FILE
    result.json          the run's result (harness.schema.RunResult)               RESULT_FILE
    train_outcome.json   written when a model's training has finished              OUTCOME_FILE
    metrics.jsonl        the convergence curve                                     METRICS_FILE
    checkpoint/          the trained reward model                                  CHECKPOINT_DIR
    state/               resumable trainer state (trainer_state.json inside)       STATE_DIR, STATE_FILE
    predictions/<suite>/<name>.jsonl   per-example predictions                     PREDICTIONS_DIR
    members/<k>/         an ensemble member, laid out like a run                   MEMBERS_DIR
    rl/<algo>/           the rl suite's curve (metrics.jsonl) and trained policy   RL_DIR
    trackers/            experiment-tracker files (TensorBoard)                    TRACKER_DIR
"""
from __future__ import annotations

CONFIG_FILE = "config.yaml"
RESULT_FILE = "result.json"
OUTCOME_FILE = "train_outcome.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoint"
STATE_DIR, STATE_FILE = "state", "trainer_state.json"
MEMBERS_DIR = "members"
PREDICTIONS_DIR = "predictions"
RL_DIR = "rl"
TRACKER_DIR = "trackers"
