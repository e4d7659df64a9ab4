package engine

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/gompi-kernel/gompi-kernel/internal/sysmon"
)

// quietSysmon gives the Go runtime's monitor thread a timer slack of 2 ms
// (package sysmon says why and how): it woke 2-3 times per trivial cell,
// which on a virtual machine was a fifth of a rank's CPU per cell. A
// wrong GOMPI_SYSMON_SLACK is a warning and leaves it alone; any other
// failure leaves it alone quietly (a debug line). It returns nil where the
// slack is unchanged.
func quietSysmon(log *slog.Logger) *sysmon.Slack {
	s, err := sysmon.Lengthen()
	var bad *sysmon.SettingError
	switch {
	case errors.As(err, &bad):
		log.Warn("the Go runtime's monitor thread keeps its timer slack", "err", err)
	case err != nil:
		log.Debug("the Go runtime's monitor thread keeps its timer slack", "err", err)
	case s != nil:
		log.Debug("timer slack of the Go runtime's monitor thread", "slack", s.Long, "thread", s.Thread)
	}
	return s
}

// settleSysmon gives the threads that sysmon started during start-up
// (while MPI_Init held this rank's Go processor, say) their normal timer
// slack back, so that only sysmon's timers are late, and keeps doing so
// for the threads it starts later: looking every sysmonCheck until ctx
// ends, and before each cell through the function it returns. The first
// look is done before it returns, before rank 0 opens its Jupyter sockets.
func settleSysmon(ctx context.Context, log *slog.Logger, s *sysmon.Slack) func() {
	report := func(err error) { log.Debug("threads that inherited sysmon's timer slack", "err", err) }
	if s == nil {
		return func() {}
	}
	if _, err := s.Settle(); err != nil {
		report(err)
	}
	go s.Keep(ctx, sysmonCheck, report)
	return func() {
		if err := s.Check(); err != nil {
			report(err)
		}
	}
}

// sysmonCheck is how often a resting rank looks for threads that sysmon
// started: rarely enough that it does not notice.
const sysmonCheck = 5 * time.Second
