"""One agent host's worker: claim the next ready subtask of a feature from a shared store,
do it, complete it, until none is left. Run as many as you like, on as many hosts as you
like, against one PostgreSQL store:

    python claim_worker.py postgresql://flows@db.internal/flows checkout agent-$(hostname)-1

Every claim is one transaction under the feature's lock, so two workers never get the
same subtask, and a worker killed mid-task leaves its subtask ``in_progress`` with its
agent id, for a person (or ``stageflow task reopen``) to see. It prints the subtasks it
completed, one per line.
"""

from __future__ import annotations

import sys
import time

from stageflow import RuleViolation, TaskTracker, open_stores


def do_the_work(subtask: dict) -> str:
    """Replace with the agent call; return the completion summary."""
    return f"{subtask['title']}: done"


def main(url: str, feature: str, agent: str) -> None:
    with open_stores(url) as stores:
        tracker = TaskTracker(stores)
        while True:
            try:
                claimed = tracker.claim(feature, agent)
            except RuleViolation:
                if not tracker.summary(feature)["counts"]["in_progress"]:
                    return  # all done, or what is left is blocked: nothing will be ready
                time.sleep(0.05)  # what is left waits on subtasks others are doing
                continue
            summary = do_the_work(claimed.subtask)
            tracker.complete(feature, claimed.seq, summary)
            print(claimed.seq, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
