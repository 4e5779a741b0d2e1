//go:build !linux

package loadsource

import (
	"context"
	"errors"
	"testing"
)

func TestUnavailableOutsideLinux(t *testing.T) {
	s := New(Config{})
	err := s.Start(context.Background())
	if !errors.Is(err, ErrUnavailable) || err.Error() != "load events unavailable: not Linux" {
		t.Fatalf("Start: %v", err)
	}
	if st := s.Stats(); st.State != StateUnavailable || st.Reason != "not Linux" {
		t.Fatalf("stats %+v", st)
	}
	if _, open := <-s.Events(); open {
		t.Fatal("an event outside Linux")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
