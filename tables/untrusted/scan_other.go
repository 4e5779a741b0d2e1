//go:build !linux

package untrusted

import "context"

// osScan is empty until this OS has a judgement of its own: its processes
// are judged by processPortable.
type osScan struct{}

func (sc *scan) begin() {}

func (sc *scan) process(ctx context.Context, proc int) { sc.processPortable(ctx, proc) }
