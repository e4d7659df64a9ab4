// Package registry is the object registry of the pyMOR-style API
// (pymor.tools.mpi): every rank keeps its part of a distributed object under
// an ObjectID, and rank 0 drives the computation holding only the ids.
//
// Ids are handed out in call order, so ranks that manage objects in the same
// order (the same cell, or the same Call on every rank) agree on them: that
// is pyMOR's contract, and the only thing that makes an id mean the same
// distributed object everywhere. The package knows nothing of Jupyter, MPI
// or the interpreter; a Resolver (the interpreter session) finds functions
// and methods by name.
package registry

import (
	"fmt"
	"sort"
	"sync"
)

// ObjectID is a handle to a distributed object: the same id names each
// rank's part of it. The zero ObjectID names no object, so an id left
// unset never refers to the first object managed.
type ObjectID uint64

// String prints an id as cells and error messages show it: ObjectID(3).
func (id ObjectID) String() string { return fmt.Sprintf("ObjectID(%d)", uint64(id)) }

// Registry holds one rank's managed objects. It is safe for concurrent use
// (goroutines of a cell may manage objects).
type Registry struct {
	mu   sync.Mutex
	next ObjectID
	objs map[ObjectID]any
}

// Entry describes one managed object, for Info.
type Entry struct {
	ID   ObjectID
	Type string // the Go type, as %T prints it
}

// New returns an empty registry whose first id is ObjectID(1).
func New() *Registry { return &Registry{next: 1, objs: map[ObjectID]any{}} }

// Manage keeps obj and returns its id. Ids are never reused, so a stale id
// gives an error rather than another object.
func (r *Registry) Manage(obj any) ObjectID {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := r.next
	r.next++
	r.objs[id] = obj
	return id
}

// Get returns the object managed under id.
func (r *Registry) Get(id ObjectID) (any, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	obj, ok := r.objs[id]
	if !ok {
		return nil, r.unknown(id)
	}
	return obj, nil
}

// Remove forgets the object managed under id, so that it can be garbage
// collected.
func (r *Registry) Remove(id ObjectID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.objs[id]; !ok {
		return r.unknown(id)
	}
	delete(r.objs, id)
	return nil
}

// unknown is the error for an id not (or no longer) managed; it says which,
// since "removed" points at a RemoveObject too early and "never" at ranks
// that managed objects in different orders.
func (r *Registry) unknown(id ObjectID) error {
	switch {
	case id == 0:
		return fmt.Errorf("registry: unknown %v (the zero ObjectID names no object)", id)
	case id < r.next:
		return fmt.Errorf("registry: unknown %v (removed)", id)
	}
	return fmt.Errorf("registry: unknown %v", id)
}

// Len is the number of managed objects.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.objs)
}

// List returns the managed objects in id order.
func (r *Registry) List() []Entry {
	return r.listNamed(func(obj any) string { return fmt.Sprintf("%T", obj) })
}

// listNamed is List with the types spelled by typeName.
func (r *Registry) listNamed(typeName func(any) string) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.objs))
	for id, obj := range r.objs {
		out = append(out, Entry{ID: id, Type: typeName(obj)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
