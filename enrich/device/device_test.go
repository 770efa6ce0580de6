package device

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/logbuf"
)

const (
	alicePAW = "3f1c2a9e-6b1d-4c55-9a43-0d7e5b8f1a01"
	bobPAW   = "7a2b4c6d-8e9f-4a1b-8c3d-5e6f7a8b9c02"
	tier0SAW = "0b9e8d7c-6a5f-4e3d-9c2b-1a0f9e8d7c03"
	unlisted = "99999999-0000-4000-8000-000000000000"
	alice    = "adm_alice@contoso.example"
	bobID    = "22222222-2222-2222-2222-222222222222"
)

func newStage(t testing.TB, cfg Config) *Stage {
	t.Helper()
	if cfg.Devices == "" {
		cfg.Devices = "testdata/devices.yaml"
	}
	s, err := New(cfg, slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func signIn(upn, id string, dd entra.DeviceDetail) *entra.Record {
	return &entra.Record{Stream: entra.StreamSignIn, Actor: entra.Principal{Type: "user", UPN: upn, ID: id}, SignIn: entra.SignIn{Device: dd}}
}

func TestEnrich(t *testing.T) {
	full := entra.DeviceDetail{DeviceID: alicePAW, OperatingSystem: "Windows 11", Browser: "Edge 131.0", IsCompliant: true, IsManaged: true, TrustType: "Azure AD joined"}
	tests := []struct {
		name       string
		require    bool
		upn, id    string
		dd         entra.DeviceDetail
		paw        bool
		reason     string // exact
		reasonHas  string // substring
		compliant  bool
		checkWhole bool
	}{
		{name: "listed PAW used by its owner", upn: alice, dd: full, paw: true, reason: "registered PAW PAW-ALICE-01", compliant: true, checkWhole: true},
		{name: "owner compared case-insensitively", upn: "ADM_Alice@Contoso.Example", dd: entra.DeviceDetail{DeviceID: alicePAW}, paw: true, reason: "registered PAW PAW-ALICE-01"},
		{name: "listed SAW, shared (no owner)", upn: "adm_carol@contoso.example", dd: entra.DeviceDetail{DeviceID: tier0SAW}, paw: true, reason: "registered SAW SAW-TIER0-01"},
		{name: "unlisted device", upn: alice, dd: entra.DeviceDetail{DeviceID: unlisted, IsCompliant: true}, reason: "device " + unlisted + " is not a registered PAW/SAW", compliant: true},
		{name: "no device ID", upn: alice, dd: entra.DeviceDetail{Browser: "Chrome 131.0.0", OperatingSystem: "MacOs"}, reason: ReasonNoDeviceID},
		{name: "device ID in upper case", upn: alice, dd: entra.DeviceDetail{DeviceID: strings.ToUpper(alicePAW)}, paw: true, reason: "registered PAW PAW-ALICE-01"},
		{name: "device ID in mixed case, listed upper case", upn: "x@contoso.example", dd: entra.DeviceDetail{DeviceID: "0B9E8D7C-6a5f-4e3d-9c2b-1a0f9e8d7c03"}, paw: true, reason: "registered SAW SAW-TIER0-01"},
		{name: "require_compliant, compliant PAW", require: true, upn: alice, dd: entra.DeviceDetail{DeviceID: alicePAW, IsCompliant: true}, paw: true, reason: "registered PAW PAW-ALICE-01", compliant: true},
		{name: "require_compliant, non-compliant PAW", require: true, upn: alice, dd: entra.DeviceDetail{DeviceID: alicePAW}, reason: "registered PAW PAW-ALICE-01 is not compliant (require_compliant)"},
		{name: "non-compliant PAW without require_compliant", upn: alice, dd: entra.DeviceDetail{DeviceID: alicePAW}, paw: true, reason: "registered PAW PAW-ALICE-01"},
		{name: "PAW used by another user", upn: "adm_bob@contoso.example", id: bobID, dd: entra.DeviceDetail{DeviceID: alicePAW}, paw: true, reasonHas: "PAW of adm_alice@contoso.example"},
		{name: "owner given as object ID, matched by actor ID", upn: "adm_bob@contoso.example", id: bobID, dd: entra.DeviceDetail{DeviceID: bobPAW}, paw: true, reason: "registered PAW PAW-BOB-01"},
		{name: "owner given as object ID, other user", upn: alice, dd: entra.DeviceDetail{DeviceID: bobPAW}, paw: true, reasonHas: "PAW of " + bobID},
		{name: "actor unknown: owner not held against the device", dd: entra.DeviceDetail{DeviceID: alicePAW}, paw: true, reason: "registered PAW PAW-ALICE-01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStage(t, Config{RequireCompliant: tt.require})
			rec := signIn(tt.upn, tt.id, tt.dd)
			s.Enrich(rec)
			d := rec.Context.Device
			if d == nil {
				t.Fatal("Context.Device is nil")
			}
			if d.PAW != tt.paw {
				t.Errorf("PAW = %v, want %v (reason %q)", d.PAW, tt.paw, d.Reason)
			}
			if tt.reason != "" && d.Reason != tt.reason {
				t.Errorf("Reason = %q, want %q", d.Reason, tt.reason)
			}
			if tt.reasonHas != "" && !strings.Contains(d.Reason, tt.reasonHas) {
				t.Errorf("Reason = %q, want it to contain %q", d.Reason, tt.reasonHas)
			}
			if d.ID != tt.dd.DeviceID || d.Compliant != tt.compliant || d.Managed != tt.dd.IsManaged ||
				d.Browser != tt.dd.Browser || d.OS != tt.dd.OperatingSystem || d.TrustType != tt.dd.TrustType {
				t.Errorf("device = %+v, want the sign-in's deviceDetail %+v", *d, tt.dd)
			}
			if tt.checkWhole {
				want := entra.Device{ID: alicePAW, PAW: true, Reason: tt.reason, Compliant: true, Managed: true, TrustType: "Azure AD joined", Browser: "Edge 131.0", OS: "Windows 11"}
				if *d != want {
					t.Errorf("device = %+v\nwant     %+v", *d, want)
				}
			}
		})
	}
}

func TestOtherStreamsUntouched(t *testing.T) {
	s := newStage(t, Config{})
	for _, st := range []entra.Stream{entra.StreamAudit, entra.StreamActivity, entra.StreamAADDS} {
		rec := &entra.Record{Stream: st, Actor: entra.Principal{Type: "user", UPN: alice}}
		rec.SignIn.Device.DeviceID = alicePAW // never looked at outside sign-ins
		s.Enrich(rec)
		if rec.Context.Device != nil {
			t.Errorf("%s: Context.Device = %+v, want nil", st, *rec.Context.Device)
		}
	}
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "devices.yaml")
	write := func(doc string, mod time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		// An explicit mtime: a rewrite within the file system's timestamp
		// granularity must still be seen (the size differs too).
		if err := os.Chtimes(path, mod, mod); err != nil {
			t.Fatal(err)
		}
	}
	base := time.Now().Add(-time.Hour)
	write("devices:\n  - id: "+alicePAW+"\n", base)
	var logs logbuf.Buffer
	s, err := New(Config{Devices: path, ReloadInterval: 5 * time.Millisecond}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	paw := func(id string) bool {
		rec := signIn(alice, "", entra.DeviceDetail{DeviceID: id})
		s.Enrich(rec)
		return rec.Context.Device.PAW
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs.String())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !paw(alicePAW) || paw(tier0SAW) {
		t.Fatal("initial list not in use")
	}

	// A changed file is picked up.
	write("devices:\n  - id: "+tier0SAW+"\n    kind: saw\n", base.Add(time.Minute))
	waitFor("the reload", func() bool { return paw(tier0SAW) })
	if paw(alicePAW) {
		t.Error("the removed device is still a PAW")
	}

	// A broken file keeps the list in use, with a warning.
	write("devices:\n  - id: "+alicePAW+"\n    kind: laptop\n", base.Add(2*time.Minute))
	waitFor("the warning", func() bool { return strings.Contains(logs.String(), "keeping the previous one") })
	if !strings.Contains(logs.String(), "is not paw or saw") || !paw(tier0SAW) || paw(alicePAW) {
		t.Errorf("after a bad reload: SAW %v, alice %v; log:\n%s", paw(tier0SAW), paw(alicePAW), logs.String())
	}

	// Fixed again: reloaded.
	write("devices:\n  - id: "+alicePAW+"\n  - id: "+bobPAW+"\n", base.Add(3*time.Minute))
	waitFor("the second reload", func() bool { return paw(bobPAW) })
	if s.List().Len() != 2 {
		t.Errorf("Len = %d, want 2", s.List().Len())
	}

	// A removed file: keep the list, warn once.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	waitFor("the missing-file warning", func() bool { return strings.Contains(logs.String(), "no such file") })
	time.Sleep(50 * time.Millisecond) // ten more polls
	if n := strings.Count(logs.String(), "no such file"); n != 1 {
		t.Errorf("%d warnings for one missing file, want 1", n)
	}
	if err := s.Reload(); err == nil {
		t.Error("Reload of a missing file: no error")
	}
	if !paw(bobPAW) {
		t.Error("a failed reload dropped the list")
	}
	// Back again (same content as before it went away): reloaded.
	write("devices:\n  - id: "+tier0SAW+"\n", base.Add(4*time.Minute))
	waitFor("the reload after the file came back", func() bool { return paw(tier0SAW) && !paw(bobPAW) })
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Error("second Close:", err)
	}
}

func TestBadFiles(t *testing.T) {
	tests := []struct {
		name, doc string
		want      []string // substrings of the error
	}{
		{"duplicate id, other case", "devices:\n  - id: " + alicePAW + "\n  - id: " + strings.ToUpper(alicePAW) + "\n",
			[]string{"devices.yaml:3:9: ", "devices[1].id: duplicate device", "also devices[0]"}},
		{"bad kind", "devices:\n  - id: a\n  - id: b\n    kind: laptop\n",
			[]string{"devices.yaml:4:11: ", `devices[1].kind: "laptop" is not paw or saw`, ">  4 |     kind: laptop"}},
		{"unknown key", "devices:\n  - id: a\n    owners: x@y\n",
			[]string{"devices.yaml:3:5: ", `unknown field "owners"`}},
		{"unknown top-level key", "device:\n  - id: a\n", []string{"devices.yaml:1:1: ", `unknown field "device"`}},
		{"missing id", "devices:\n  - id: a\n  - name: PAW-X\n", []string{"devices.yaml:3:", "devices[1].id: a device object ID is required"}},
		{"not a list", "devices: 3\n", []string{"devices.yaml:1:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "devices.yaml")
			if err := os.WriteFile(path, []byte(tt.doc), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(Config{Devices: path}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "devices:"},
		{Config{Devices: "x.yaml", ReloadInterval: -time.Second}, "reload_interval:"},
		{Config{Devices: "x.yaml"}, ""},
	}
	for _, tt := range tests {
		err := tt.cfg.Validate()
		if (err == nil) != (tt.want == "") || err != nil && !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want prefix %q", tt.cfg, err, tt.want)
		}
	}
	if _, err := New(Config{Devices: filepath.Join(t.TempDir(), "missing.yaml")}, nil); err == nil {
		t.Error("a missing file must fail New")
	}
}

func TestEnrichConcurrent(t *testing.T) {
	s := newStage(t, Config{ReloadInterval: time.Millisecond})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				id := alicePAW
				if (i+g)%2 == 1 {
					id = unlisted
				}
				rec := signIn(alice, "", entra.DeviceDetail{DeviceID: id})
				s.Enrich(rec)
				if rec.Context.Device.PAW != (id == alicePAW) {
					t.Errorf("device %s: PAW = %v", id, rec.Context.Device.PAW)
					return
				}
				if i%500 == 0 {
					s.Reload()
				}
			}
		}()
	}
	wg.Wait()
}

func TestEnrichAllocs(t *testing.T) {
	s := newStage(t, Config{})
	for _, tt := range []struct {
		id   string
		want float64
	}{{alicePAW, 1}, {strings.ToUpper(alicePAW), 1}, {"", 1}, {unlisted, 2}} {
		rec := signIn(alice, "", entra.DeviceDetail{DeviceID: tt.id})
		if n := testing.AllocsPerRun(100, func() { s.Enrich(rec) }); n > tt.want {
			t.Errorf("device %q: %v allocations per record, want at most %v", tt.id, n, tt.want)
		}
	}
}

func BenchmarkEnrich(b *testing.B) {
	s := newStage(b, Config{})
	for _, bc := range []struct {
		name string
		id   string
	}{{"paw", alicePAW}, {"paw_upper_case", strings.ToUpper(alicePAW)}, {"unlisted", unlisted}, {"no_device_id", ""}} {
		b.Run(bc.name, func(b *testing.B) {
			rec := signIn(alice, "", entra.DeviceDetail{DeviceID: bc.id, IsCompliant: true, Browser: "Edge 131.0", OperatingSystem: "Windows 11"})
			b.ReportAllocs()
			for b.Loop() {
				s.Enrich(rec)
			}
		})
	}
}
