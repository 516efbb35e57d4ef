"""Agent executors: the GraphExecutor bridge that turns an AgentRequest into the agent's reply."""
