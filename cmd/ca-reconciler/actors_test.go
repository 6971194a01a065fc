package main

import (
	"testing"
	"time"
)

// The actor book names who made the change a write put back. The echo of
// the daemon's own write (which the emulator, like the service, sends as an
// event by the daemon's identity) can be noted before the cycle's events
// reach the book, and after: neither replaces the editor. A later edit is
// named again.
func TestActorBookKeepsTheEditorOverTheEcho(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	a := newActorBook(func() time.Time { return now }, nil)
	const repo = "org/python"

	if _, ok := a.peek(repo); ok {
		t.Errorf("peek with nothing noted: ok")
	}
	if got := a.written(repo); got != "" {
		t.Errorf("written with nothing noted = %q, want none", got)
	}

	now = now.Add(time.Hour)
	a.NoteActor(repo, "alice@example.com")
	now = now.Add(10 * time.Millisecond)
	a.NoteActor(repo, "api-token") // the write's echo, before the cycle's events
	if got, ok := a.peek(repo); !ok || got != "alice@example.com" {
		t.Errorf("peek after an echo = %q, %v; want alice", got, ok)
	}
	if got := a.written(repo); got != "alice@example.com" {
		t.Errorf("written after an echo = %q, want alice", got)
	}
	now = now.Add(ownEcho - time.Second)
	a.NoteActor(repo, "api-token") // an echo after the write
	if got, ok := a.peek(repo); ok {
		t.Errorf("an echo within %v of the write was kept: %q", ownEcho, got)
	}

	now = now.Add(2 * time.Second)
	a.NoteActor(repo, "bob@example.com")
	if got := a.written(repo); got != "bob@example.com" {
		t.Errorf("written = %q, want bob", got)
	}
	if got := a.written(repo); got != "" {
		t.Errorf("a second write = %q, want none (forgotten)", got)
	}

	// An actor noted long ago, whose change was never written (it was no
	// drift), gives way to the next one.
	now = now.Add(time.Hour)
	a.NoteActor(repo, "carol@example.com")
	now = now.Add(ownEcho)
	a.NoteActor(repo, "dave@example.com")
	if got := a.written(repo); got != "dave@example.com" {
		t.Errorf("written = %q, want dave (carol's note had aged)", got)
	}
}

// With --identity, or a token whose claims name it, the book knows the
// daemon's own identity: its events name nobody, whenever they come, and
// an edit right after the daemon's write is still named.
func TestActorBookPassesOverItsOwnIdentity(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const self = "org/daemon-identity"
	a := newActorBook(func() time.Time { return now }, func() []string { return []string{self, "robot@example.com"} })
	const repo = "org/python"
	a.NoteActor(repo, self)
	a.NoteActor(repo, "robot@example.com") // an event naming the token's email
	if got, ok := a.peek(repo); ok {
		t.Errorf("the daemon's own event was noted: %q", got)
	}
	a.NoteActor(repo, "alice@example.com")
	a.NoteActor(repo, self)
	if got := a.written(repo); got != "alice@example.com" {
		t.Errorf("written = %q, want alice", got)
	}
	now = now.Add(time.Hour)
	a.NoteActor(repo, self) // an echo long after the write
	if got, ok := a.peek(repo); ok {
		t.Errorf("a late echo of the daemon's own write was noted: %q", got)
	}
	// An edit right after the daemon's write is named: the echo is told by
	// the identity, not by time.
	_ = a.written(repo)
	now = now.Add(time.Second)
	a.NoteActor(repo, "bob@example.com")
	if got := a.written(repo); got != "bob@example.com" {
		t.Errorf("an edit 1s after the daemon's write: written = %q, want bob", got)
	}
}
