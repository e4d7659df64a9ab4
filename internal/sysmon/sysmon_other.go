//go:build !linux

package sysmon

import (
	"context"
	"time"
)

// Slack is sysmon's lengthened timer slack; never made outside Linux.
type Slack struct {
	Long, Normal time.Duration
	Thread       int
}

// Lengthen does nothing outside Linux.
func Lengthen() (*Slack, error) { return nil, nil }

// Settle does nothing outside Linux.
func (s *Slack) Settle() (int, error) { return 0, nil }

// Plain runs f.
func (s *Slack) Plain(f func() error) error { return f() }

// Check does nothing outside Linux.
func (s *Slack) Check() error { return nil }

// Keep does nothing outside Linux.
func (s *Slack) Keep(ctx context.Context, period time.Duration, report func(error)) {}
