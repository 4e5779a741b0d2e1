//go:build !unix

package moduleevents

import "errors"

func mkfifo(string) error { return errors.New("no FIFOs on this platform") }
