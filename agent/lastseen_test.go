package agent

import (
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/store"
)

func TestLastSeenKeepsPrivilegedSuccessesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, err := openLastSeen(st)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	rec := func(id string, priv bool, code int, d time.Duration) *entra.Record {
		return &entra.Record{Stream: entra.StreamSignIn, Time: at.Add(d),
			Actor: entra.Principal{ID: id, UPN: id + "@contoso.example", Privileged: priv}, SignIn: entra.SignIn{ErrorCode: code}}
	}
	l.observe([]*entra.Record{
		rec("Alice", true, 0, 0),
		rec("alice", true, 0, -time.Hour),    // older, read later: kept the newer
		rec("alice", true, 50126, time.Hour), // a failure is not a sign-in
		rec("bob", false, 0, 0),              // not privileged
		{Stream: entra.StreamAudit, Time: at.Add(2 * time.Hour), Actor: entra.Principal{ID: "alice", Privileged: true}},
	})
	if err := l.flush(); err != nil {
		t.Fatal(err)
	}
	st.Close()
	if st, err = store.Open(dir); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if l, err = openLastSeen(st); err != nil {
		t.Fatal(err)
	}
	if got := l.get("ALICE", ""); !got.Equal(at) {
		t.Errorf("alice last seen %v, want %v", got, at)
	}
	if got := l.get("", "bob@contoso.example"); !got.IsZero() {
		t.Errorf("bob (no role) seen %v", got)
	}
}
