//go:build !linux

package loadsource

import "context"

// Source is unavailable outside Linux.
type Source struct {
	events chan Event
}

// New returns a source that will report itself unavailable.
func New(cfg Config) *Source {
	ch := make(chan Event)
	close(ch)
	return &Source{events: ch}
}

const notLinux = "not Linux"

// Start reports that there is nothing to start.
func (s *Source) Start(context.Context) error { return unavailable(notLinux) }

// Events is closed: there will be none.
func (s *Source) Events() <-chan Event { return s.events }

// Stats says why.
func (s *Source) Stats() Stats { return Stats{State: StateUnavailable, Reason: notLinux} }

// Close does nothing.
func (s *Source) Close() error { return nil }
