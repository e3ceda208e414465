// Package config loads, validates, changes and saves the agent's
// configuration: a TOML file a technician can edit by hand, and that the
// operator changes with config.set. Every validation error names the key that
// is wrong and what was expected. Secrets (the MQTT password, the command
// key) are never logged nor read back.
package config
