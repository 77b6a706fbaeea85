"""``python -m planexe.plan --run-dir DIR``: the pipeline process that makes one plan.

The service supervises this process (see ``planexe.pipeline.child`` for the
contract); the plan's DAG is handed to the pipeline from here, the package
that owns it.
"""

from planexe.pipeline.child import exit_now, main

if __name__ == "__main__":
    from planexe.plan.dag import PLAN_DAG

    exit_now(main(PLAN_DAG))
