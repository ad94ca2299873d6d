"""A rank that rank 0 of a multi-process run started (dltool.ddp): ``python -m dltool.rank JOB``, where JOB is the JSON
file of the run's composed config and arguments. It builds and trains the same run and writes nothing; Ctrl-C is rank
0's to handle (it stops the others), and the stop of another rank ends this one quietly (rank 0 says what happened).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from dltool.ddp import peer_lost
from dltool.errors import RunFailed, UserError


def main(path: str) -> None:
    """Train the run of the JSON job at ``path`` as one of its ranks."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is rank 0's to handle: it stops the others
    job = json.loads(Path(path).read_text())
    from omegaconf import OmegaConf

    from dltool.train import train

    cfg = OmegaConf.create(job["config"])
    OmegaConf.set_struct(cfg, True)
    try:
        train(cfg, job["runs_dir"], job["name"], progress=False, report_test=job["report_test"], resume=job["resume"])
    except UserError as e:
        print(f"dltool: error: rank {os.environ.get('RANK')}: {e}", file=sys.stderr)
        sys.exit(2)
    except RunFailed:  # another rank stopped: rank 0 says so
        sys.exit(1)
    except RuntimeError as e:
        if peer_lost(e):
            sys.exit(1)
        raise


if __name__ == "__main__":
    main(sys.argv[1])
