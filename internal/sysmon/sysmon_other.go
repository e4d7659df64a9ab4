//go:build !linux

package sysmon

import "time"

// Default is sysmon's timer slack on Linux.
const Default = 2 * time.Millisecond

// Env names the environment variable that overrides Default.
const Env = "GOMPI_SYSMON_SLACK"

// Lengthen does nothing outside Linux.
func Lengthen() (time.Duration, int, error) { return 0, 0, nil }
