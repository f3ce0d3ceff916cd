"""Index an audio archive: one JSON line of segments per file, resumable, shardable, parallel.

:func:`index` segments every audio file under a folder (or named in a list file) and
appends one JSON line per file to a ``.jsonl`` file::

    {"path": "a/b.wav", "size": 1234, "sha1": "...", "duration": 12.34,
     "model": {"name": "slim", "sha1": "..."},
     "settings": {"smoothing": "viterbi", "window": 1.0, "median": 200, "switch_penalty": 80.0,
                  "min_duration": {"speech": 0.2, ...}, ..., "log_prior": {"noise": -0.5}, "silence_db": -50.0},
     "segments": [[0.0, 3.21, "speech", 0.9312], ...],
     "totals": {"speech": 3.21, "music": 0.0, "noise": 0.0, "silence": 9.13}}

A file that cannot be read gives a line with ``"error": "<path>: <problem>"`` (one line)
instead of ``duration``/``segments``/``totals``, and the run goes on.

Guarantees
----------
* **Atomic lines.** Each line is written with one ``os.write`` (looped only on a short
  write) followed by ``os.fsync``: a killed run leaves complete lines, at most followed by
  one partial line, which ``resume`` cuts off.
* **Deterministic output.** Lines are written in *input order* whatever the number of
  workers (results that complete early wait in a small buffer), and no wall-clock value is
  written unless ``timings=True`` (``"elapsed"`` per line). The same inputs, model and
  settings therefore give byte-identical files, with 1 or N workers, sharded or not.
* **Resume.** ``resume=True`` keeps the existing lines, cuts a trailing partial line,
  skips files whose last line is a success with the same path *and* content SHA-1 (the
  hashing is done by the workers), retries failed ones and re-indexes changed ones. At the
  end, if the file is no longer one line per input in input order (a retried or changed
  file), it is rewritten atomically in input order with the newest line per path, so a
  killed-and-resumed run ends byte-identical to an uninterrupted one.
  Resuming with another model or other settings is refused.
* **Shards.** ``shard=(i, n)`` (1-based ``i``) takes the files whose position ``k`` in the
  input list (sorted for folders) has ``k % n == i - 1``. The union of the ``n`` shard
  files is the unsharded run (as sets of lines; concatenate and sort by path to compare).

Cluster use (one output per shard, then ``cat shard-*.jsonl``)::

    # Slurm array: sbatch --array=1-16 index.sh   (SLURM_ARRAY_TASK_ID runs 1..16)
    sonotype index /archive --out idx/shard-$SLURM_ARRAY_TASK_ID.jsonl --resume \\
        --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT --workers $SLURM_CPUS_PER_TASK

    # Kubernetes indexed Job (completionMode: Indexed, completions: 16);
    # JOB_COMPLETION_INDEX runs 0..15, so add 1:
    sonotype index /archive --out /out/shard-$((JOB_COMPLETION_INDEX + 1)).jsonl --resume \\
        --shard $((JOB_COMPLETION_INDEX + 1))/16

With ``--resume`` a preempted or retried task continues where it stopped.

Code: :mod:`.inputs` (file lists, shards, hashes), :mod:`.output` (JSONL writer, summary),
:mod:`.run` (:func:`index`, one file, worker pool).
"""
from __future__ import annotations

from .inputs import IndexFailure, find_inputs, hash_file, parse_shard, take_shard
from .output import IndexSummary, Output, encode
from .run import MP_START, index, index_one, model_meta

__all__ = ["MP_START", "IndexFailure", "IndexSummary", "Output", "encode", "find_inputs", "hash_file", "index",
           "index_one", "model_meta", "parse_shard", "take_shard"]
