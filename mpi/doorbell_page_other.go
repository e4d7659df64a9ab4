//go:build !linux

package mpi

import (
	"errors"
	"net"
)

// bellPage is Linux-only (futex, memfd); elsewhere rings go through the
// socket.
type bellPage struct{}

func newBellPage() (*bellPage, error)                   { return nil, errors.New("no bell page on this system") }
func (p *bellPage) ring()                               {}
func (p *bellPage) unmap()                              {}
func (d *Doorbell) sendPage(conn net.Conn)              {}
func (d *Doorbell) receivePage(conn net.Conn) *bellPage { return nil }
func (d *Doorbell) watchPage()                          { d.wg.Done() }
