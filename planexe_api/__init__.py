"""PlanExe's HTTP service: a FastAPI app that queues plans in a database and runs each as a supervised pipeline child."""
