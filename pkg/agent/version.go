package agent

// Version is the agent's version, set at link time (-X); reports and hellos carry it.
var Version = "dev"
