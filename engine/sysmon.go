package engine

import (
	"log/slog"

	"github.com/gompi-kernel/gompi-kernel/internal/sysmon"
)

// quietSysmon gives the Go runtime's monitor thread a timer slack of 2 ms
// (package sysmon says why and how): it woke 2-3 times per trivial cell,
// which on a virtual machine was a fifth of a rank's CPU per cell. Only
// that thread's slack changes; a wrong GOMPI_SYSMON_SLACK is reported
// and leaves it alone.
func quietSysmon(log *slog.Logger) {
	slack, tid, err := sysmon.Lengthen()
	switch {
	case err != nil:
		log.Warn("the Go runtime's monitor thread keeps its timer slack", "err", err)
	case slack > 0:
		log.Debug("timer slack of the Go runtime's monitor thread", "slack", slack, "thread", tid)
	}
}
