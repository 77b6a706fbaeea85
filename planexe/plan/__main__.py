"""``python -m planexe.plan --run-dir DIR``: the pipeline process that makes one plan.

The service supervises this process (see ``planexe.pipeline.child`` for the
contract); the plan's DAG is handed to the pipeline from here, the package
that owns it.
"""

import sys

from planexe.pipeline.child import exit_now, main, standby

if __name__ == "__main__":
    from planexe.plan.dag import PLAN_DAG

    argv = sys.argv[1:]
    exit_now(standby(PLAN_DAG, argv) if "--standby" in argv else main(PLAN_DAG, argv))
