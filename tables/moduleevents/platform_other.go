//go:build !linux && !windows && !darwin

package moduleevents

// platform is empty where modhunt has no rules: no rule sees the events.
const platform = ""
