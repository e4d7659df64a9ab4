package engine

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gompi-kernel/gompi-kernel/kernel/session"
)

// foldErrors makes ONE error out of the failures of all ranks: frontends and
// jupyter_kernel_test expect a single error message per cell, and a user
// needs to see at a glance which ranks failed and whether they failed alike
// (session.Fold lays it out: a red name line, frames in the cell's lines,
// the message once). Ranks that the coordinator interrupted because they
// were stuck after another rank's failure are named separately: they are
// victims, not causes. cell labels the cell ("cell 6").
func foldErrors(reports []doneReport, stuck []int, cell string) *session.Error {
	isStuck := map[int]bool{}
	for _, r := range stuck {
		isStuck[r] = true
	}
	type group struct {
		err   *session.Error
		ranks []int
	}
	var groups []*group
	for rank, r := range reports {
		if r.Err == nil || isStuck[rank] {
			continue
		}
		var g *group
		for _, h := range groups {
			if h.err.Name == r.Err.Name && h.err.Value == r.Err.Value {
				g = h
				break
			}
		}
		if g == nil {
			g = &group{err: r.Err}
			groups = append(groups, g)
		}
		g.ranks = append(g.ranks, rank)
	}
	if len(groups) == 0 && len(stuck) == 0 {
		return nil
	}
	// The heading names each kind of error once, with all its ranks.
	byName := map[string][]int{}
	for _, g := range groups {
		byName[g.err.Name] = append(byName[g.err.Name], g.ranks...)
	}
	gs := make([]session.Group, 0, len(groups))
	for _, g := range groups {
		ranks, nameRanks := rankList(g.ranks), ""
		if all := byName[g.err.Name]; len(all) > len(g.ranks) {
			slices.Sort(all)
			nameRanks = rankList(all)
		}
		if len(reports) == 1 {
			ranks = "" // a one-rank kernel names no ranks
		}
		gs = append(gs, session.Group{Ranks: ranks, Err: g.err, NameRanks: nameRanks})
	}
	var notes []string
	if len(stuck) > 0 {
		note := fmt.Sprintf("%s still running %v after the failure%s; interrupted",
			rankList(stuck), stuckGrace, stuckWhere(reports, stuck))
		if len(groups) == 0 {
			note = fmt.Sprintf("%s did not finish and were interrupted%s", rankList(stuck), stuckWhere(reports, stuck))
		}
		notes = append(notes, note)
	}
	return session.Fold(cell, gs, notes)
}

// stuckWhere says where the stuck ranks were waiting, when they were inside
// an MPI call: " (waiting in mpi.Barrier)".
func stuckWhere(reports []doneReport, stuck []int) string {
	where := map[string][]int{}
	var order []string
	for _, r := range stuck {
		if r >= len(reports) || reports[r].Where == "" {
			continue
		}
		w := reports[r].Where
		if _, ok := where[w]; !ok {
			order = append(order, w)
		}
		where[w] = append(where[w], r)
	}
	if len(order) == 0 {
		return ""
	}
	var parts []string
	for _, w := range order {
		s := "waiting in mpi." + w
		if len(order) > 1 {
			s = rankList(where[w]) + " " + s
		}
		parts = append(parts, s)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// rankList names ranks compactly, as the labels of collapsed output do:
// "rank 2", "ranks 0-3", "ranks 1,3,5-7".
func rankList(ranks []int) string {
	if len(ranks) == 1 {
		return "rank " + strconv.Itoa(ranks[0])
	}
	return "ranks " + rankRange(ranks)
}
