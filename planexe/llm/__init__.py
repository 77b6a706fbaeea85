"""The LLM layer: model config, providers, the retrying executor and async batching."""
