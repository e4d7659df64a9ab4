package mpi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// floodEnv makes the test binary a stranger flooding the doorbell at the
// address it names (no MPI), for floodSeconds.
const (
	floodEnv     = "GOMPI_DOORBELL_FLOOD"
	floodSeconds = 3
)

func init() { scenarios["doorbell-stranger"] = scenarioStranger }

// worldBell duplicates MPI_COMM_WORLD and sets up a doorbell on it
// (collective).
func worldBell() (*Comm, *Doorbell, error) {
	c, err := WorldComm().Dup()
	if err != nil {
		return nil, nil, err
	}
	bell, err := NewDoorbell(c, nil)
	if err != nil {
		return nil, nil, err
	}
	return c, bell, nil
}

// TestDoorbellStrangers: the doorbell takes rings only from ranks of its own
// job. A connection with the wrong secret, or none, is closed; a stranger's
// flood (100 connections at a time, half of them writing, for 3 s) costs
// the rank under 5 % of a core; the job's own ring still arrives after it.
func TestDoorbellStrangers(t *testing.T) {
	t.Parallel()
	res := runJob(t, 2, "doorbell-stranger", 60*time.Second)
	t.Logf("flood: %s; rank 0 CPU %s of a core", res.values["flood"][0], res.values["flood_cpu"][0])
}

func scenarioStranger(rank, size int) error {
	c, bell, err := worldBell()
	if err != nil {
		return err
	}
	defer bell.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if rank == 1 {
		bell.Dial(0)
		if _, err := recvInt(ctx, c, 0); err != nil { // go ahead
			return err
		}
		if err := bell.Ring(0); err != nil {
			return err
		}
		_, err := recvInt(ctx, c, 0) // done
		return err
	}
	if err := waitFor(10*time.Second, func() bool { return bell.ReachedBy() == 1 }); err != nil {
		return fmt.Errorf("rank 1 never connected: %w", err)
	}
	network, addr := bell.ln.Addr().Network(), bell.ln.Addr().String()
	if err := strangerClosed(network, addr, make([]byte, secretLen+4)); err != nil {
		return fmt.Errorf("wrong secret: %w", err)
	}
	if err := strangerClosed(network, addr, nil); err != nil {
		return fmt.Errorf("silent stranger: %w", err)
	}
	if err := flood(network, addr); err != nil {
		return err
	}
	if bell.ReachedBy() != 1 {
		return fmt.Errorf("after the flood %d ranks connected, want 1", bell.ReachedBy())
	}
	for len(bell.ch) > 0 {
		<-bell.ch // nothing a stranger did may ring; drain to be sure what follows is rank 1's
	}
	if err := sendInt(ctx, c, 1, 1); err != nil {
		return err
	}
	select {
	case <-bell.C():
	case <-time.After(10 * time.Second):
		return errors.New("rank 1's ring after the flood never arrived")
	}
	return sendInt(ctx, c, 1, 2)
}

// strangerClosed connects, writes hello (if any) and expects the doorbell
// to close the connection within a few seconds.
func strangerClosed(network, addr string, hello []byte) error {
	conn, err := net.Dial(network, addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if hello != nil {
		if _, err := conn.Write(hello); err != nil {
			return err
		}
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := conn.Read(make([]byte, 1))
	if n > 0 || !errors.Is(err, io.EOF) {
		return fmt.Errorf("connection not closed by the doorbell: read %d, %v", n, err)
	}
	return nil
}

// flood runs a stranger process against addr and checks this rank's CPU.
func flood(network, addr string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), floodEnv+"="+network+" "+addr, childEnv+"=")
	before, err := cpuSeconds()
	if err != nil {
		return err
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("flood: %v: %s", err, out)
	}
	after, _ := cpuSeconds()
	frac := (after - before) / time.Since(start).Seconds()
	report(0, "flood", strings.TrimSpace(string(out)))
	report(0, "flood_cpu", fmt.Sprintf("%.2f%%", 100*frac))
	if frac >= 0.05 {
		return fmt.Errorf("a stranger's flood cost %.1f%% of a core (limit 5%%)", 100*frac)
	}
	return nil
}

// runFlood is the stranger: 100 goroutines connect again and again for
// floodSeconds, half of them writing junk, half silent, each reading until
// the doorbell closes the connection.
func runFlood(target string) int {
	network, addr, _ := strings.Cut(target, " ")
	deadline := time.Now().Add(floodSeconds * time.Second)
	var conns, closed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(write bool) {
			defer wg.Done()
			junk := []byte(strings.Repeat("let me in ", 10))
			for time.Now().Before(deadline) {
				conn, err := net.DialTimeout(network, addr, time.Until(deadline))
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				conns.Add(1)
				if write {
					conn.Write(junk)
				}
				conn.SetReadDeadline(deadline)
				if _, err := io.Copy(io.Discard, conn); err == nil {
					closed.Add(1)
				}
				conn.Close()
			}
		}(i%2 == 0)
	}
	wg.Wait()
	fmt.Printf("%d connections, %d closed by the doorbell", conns.Load(), closed.Load())
	return 0
}

func waitFor(d time.Duration, ok func() bool) error {
	for deadline := time.Now().Add(d); !ok(); {
		if time.Now().After(deadline) {
			return fmt.Errorf("not after %v", d)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

func sendInt(ctx context.Context, c *Comm, to, v int) error {
	r, err := c.Isend([]byte{byte(v)}, to, 9)
	if err != nil {
		return err
	}
	return r.Wait(ctx, nil)
}

func recvInt(ctx context.Context, c *Comm, from int) (int, error) {
	var m *Incoming
	p := Poller{Max: 20 * time.Millisecond}
	if err := p.Wait(ctx, func() (ok bool, err error) {
		m, ok, err = c.Probe(from, 9)
		return ok, err
	}); err != nil {
		return 0, err
	}
	b, _, _, err := m.Recv()
	if err != nil || len(b) != 1 {
		return 0, fmt.Errorf("recv: %v (%d bytes)", err, len(b))
	}
	return int(b[0]), nil
}

func init() { scenarios["doorbell-unreachable"] = scenarioUnreachable }

// TestDoorbellUnreachable: a rank whose bell cannot be dialled costs a ring
// nothing: Ring returns at once, the failure is logged once (naming the
// rank and the address), and the dial is retried with growing pauses.
func TestDoorbellUnreachable(t *testing.T) {
	t.Parallel()
	runJob(t, 2, "doorbell-unreachable", 60*time.Second)
}

func scenarioUnreachable(rank, size int) error {
	c, err := WorldComm().Dup()
	if err != nil {
		return err
	}
	var logs bytes.Buffer
	var logMu sync.Mutex
	bell, err := NewDoorbell(c, slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil)))
	if err != nil {
		return err
	}
	defer bell.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if rank == 1 {
		_, err := recvInt(ctx, c, 0)
		return err
	}
	bell.addrs[1] = []string{"@gompi-bell-nobody-listens-here"}
	if bell.network == "tcp" {
		bell.addrs[1] = []string{"127.0.0.1:1"}
	}
	start := time.Now()
	rings := 0
	for time.Since(start) < 1500*time.Millisecond {
		if err := bell.Ring(1); err != nil {
			return fmt.Errorf("ring %d: %w", rings, err)
		}
		rings++
		time.Sleep(time.Millisecond)
	}
	bell.mu.Lock()
	fails, connected := bell.peers[1].fails, bell.peers[1].conn != nil
	bell.mu.Unlock()
	logMu.Lock()
	text := logs.String()
	logMu.Unlock()
	report(0, "rings", rings)
	report(0, "dials", fails)
	switch {
	case rings < 100:
		// 1 ms apart for 1.5 s: a Ring that dialled inline (5 s per
		// attempt, before) would have allowed one.
		return fmt.Errorf("only %d rings in 1.5 s: Ring waits for the network", rings)
	case connected:
		return errors.New("connected to an address nobody listens on")
	case strings.Count(text, "cannot reach rank") != 1 || !strings.Contains(text, "rank=1") || !strings.Contains(text, bell.addrs[1][0]):
		return fmt.Errorf("want one warning naming rank 1 and %s, got:\n%s", bell.addrs[1][0], text)
	case fails < 2 || fails > 8:
		// 100, 200, 400, 800 ms apart: 4 or 5 dials in 1.5 s; never one per ring.
		return fmt.Errorf("%d dials in 1.5 s for %d rings: want a few, with backoff", fails, rings)
	}
	return sendInt(ctx, c, 1, 1)
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func init() { scenarios["doorbell-page"] = scenarioPage }

// TestDoorbellPage: on one host, ranks that proved the secret ring each
// other through the bell page in shared memory. Rank 0's rings wake both
// workers (their pages count them), 200 rings from the workers reach rank
// 0's page, and the workers' pages are the ones rank 0 mapped.
func TestDoorbellPage(t *testing.T) {
	t.Parallel()
	res := runJob(t, 3, "doorbell-page", 60*time.Second)
	for r := 0; r < 3; r++ {
		if res.values["page"][r] != "true" {
			t.Errorf("rank %d: rings did not go through a bell page (%q)", r, res.values["page"][r])
		}
	}
}

func scenarioPage(rank, size int) error {
	c, bell, err := worldBell()
	if err != nil {
		return err
	}
	defer bell.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if bell.page == nil {
		report(rank, "page", "no own page")
		return nil
	}
	viaPage := func(r int) bool {
		bell.mu.Lock()
		defer bell.mu.Unlock()
		p := bell.peers[r]
		return p != nil && p.page != nil
	}
	woken := func(what string) error {
		select {
		case <-bell.C():
			return nil
		case <-time.After(10 * time.Second):
			return fmt.Errorf("rank %d: %s never woke it", rank, what)
		}
	}
	if rank == 0 {
		bell.Dial(1, 2)
		if err := waitFor(10*time.Second, func() bool { return viaPage(1) && viaPage(2) && bell.ReachedBy() == 2 }); err != nil {
			return fmt.Errorf("rank 0: the workers' pages never came: %w", err)
		}
		for r := 1; r < size; r++ {
			if _, err := recvInt(ctx, c, r); err != nil { // r is connected and rests
				return err
			}
		}
		for len(bell.ch) > 0 {
			<-bell.ch
		}
		if err := bell.Ring(1); err != nil {
			return err
		}
		if err := bell.Ring(2); err != nil {
			return err
		}
		// The workers' 2×100 rings.
		if err := waitFor(10*time.Second, func() bool { return bell.page.seq().Load() == 200 }); err != nil {
			return fmt.Errorf("rank 0's page counted %d rings, want 200: %w", bell.page.seq().Load(), err)
		}
		if err := woken("the workers' rings"); err != nil {
			return err
		}
		report(rank, "page", "true")
		return nil
	}
	bell.Dial(0)
	if err := waitFor(10*time.Second, func() bool { return viaPage(0) }); err != nil {
		return fmt.Errorf("rank %d: rank 0's page never came: %w", rank, err)
	}
	if err := sendInt(ctx, c, 0, rank); err != nil {
		return err
	}
	if err := woken("rank 0's ring"); err != nil {
		return err
	}
	if n := bell.page.seq().Load(); n != 1 {
		return fmt.Errorf("rank %d: its page counted %d rings, want 1", rank, n)
	}
	for i := 0; i < 100; i++ {
		if err := bell.Ring(0); err != nil {
			return err
		}
	}
	report(rank, "page", "true")
	return nil
}
