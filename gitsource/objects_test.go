package gitsource

import (
	"fmt"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"
)

func memObject(t plumbing.ObjectType, content string) plumbing.EncodedObject {
	o := &plumbing.MemoryObject{}
	o.SetType(t)
	_, _ = o.Write([]byte(content))
	return o
}

// TestStagedObjectsLimit: blobs and trees are staged until the limit, then
// go to the cache at once; commits always wait for write, which stores
// blobs, trees and commits in that order.
func TestStagedObjectsLimit(t *testing.T) {
	cache := memory.NewStorage()
	s := newStagedObjects(cache)
	s.limit = 20
	var objs []plumbing.EncodedObject
	for i := range 4 {
		objs = append(objs, memObject(plumbing.BlobObject, fmt.Sprintf("blob %d..", i))) // 8 bytes each
	}
	objs = append(objs, memObject(plumbing.CommitObject, "tree 0000000000000000000000000000000000000000\n\na commit larger than the limit\n"))
	for _, o := range objs {
		if _, err := s.SetEncodedObject(o); err != nil {
			t.Fatal(err)
		}
	}
	inCache := func() string {
		out := ""
		for _, o := range objs {
			out += fmt.Sprint(cache.HasEncodedObject(o.Hash()) == nil, " ")
		}
		return out
	}
	// Two blobs fit under 20 bytes; the next two go to the cache; the
	// commit waits whatever its size.
	if got := inCache(); got != "false false true true false " {
		t.Errorf("in the cache before write (4 blobs, commit): %s", got)
	}
	for _, o := range objs {
		if err := s.HasEncodedObject(o.Hash()); err != nil {
			t.Errorf("the staged storage does not see a %s: %v", o.Type(), err)
		}
	}
	if n, err := s.write(); err != nil || n != 3 {
		t.Errorf("write: %d, %v; want the 3 staged objects", n, err)
	}
	if got := inCache(); got != "true true true true true " {
		t.Errorf("in the cache after write: %s", got)
	}
}
