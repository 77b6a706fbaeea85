"""The plan steps, one module per area; ``planexe.plan.dag`` lists them and names the final task."""
