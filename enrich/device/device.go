// Package device tells, for each sign-in, whether it came from a registered
// privileged access workstation (PAW) or secure admin workstation (SAW):
// it sets rec.Context.Device from the sign-in's deviceDetail and a list of
// registered device object IDs, which it reloads when the file changes.
package device

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/entra"
	"github.com/privtrail/privtrail/internal/yamlfile"
)

// ReasonNoDeviceID is the reason of a sign-in without a device ID.
const ReasonNoDeviceID = "no device ID in the sign-in (unregistered device or browser without device identity)"

// Kinds of registered devices.
const (
	KindPAW = "paw" // privileged access workstation
	KindSAW = "saw" // secure admin workstation
)

// Registered is one device of the list.
type Registered struct {
	ID    string // as written in the file
	Name  string
	Owner string // UPN or object ID; empty when the device is shared
	Kind  string // KindPAW or KindSAW

	// Reasons, built once at load so that Enrich never formats.
	okReason           string // "registered PAW PAW-ALICE-01"
	otherUserReason    string // "…, used by someone other than its owner: PAW of adm_alice@…"
	noncompliantReason string // "… is not compliant (require_compliant)"
}

// List is an immutable snapshot of the device list, keyed by lower-cased
// device object ID.
type List struct {
	byID map[string]*Registered
}

// Len is the number of registered devices.
func (l *List) Len() int { return len(l.byID) }

// Lookup finds a registered device by object ID, case-insensitively,
// without allocating.
func (l *List) Lookup(id string) *Registered {
	if d, ok := l.byID[id]; ok {
		return d
	}
	if !hasUpper(id) {
		return nil
	}
	if len(id) > 64 {
		return l.byID[strings.ToLower(id)]
	}
	var buf [64]byte
	b := buf[:len(id)]
	for i := 0; i < len(id); i++ {
		c := id[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return l.byID[string(b)] // no allocation: the compiler looks up without converting
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}

// devicesFile is the on-disk format (YAML or JSON).
type devicesFile struct {
	Devices []struct {
		ID    string `yaml:"id"`
		Name  string `yaml:"name"`
		Owner string `yaml:"owner"`
		Kind  string `yaml:"kind"`
	} `yaml:"devices"`
}

// ParseList parses a device list document; file names it in errors, which
// carry the line and column of the offending key or value.
func ParseList(file string, data []byte) (*List, error) {
	var f devicesFile
	if err := yamlfile.Decode(file, data, &f); err != nil {
		return nil, err
	}
	l := &List{byID: make(map[string]*Registered, len(f.Devices))}
	lines := map[string]int{} // lower-cased id -> index, for duplicate errors
	for i, d := range f.Devices {
		id := strings.TrimSpace(d.ID)
		if id == "" {
			return nil, yamlfile.ErrorAt(file, data, fmt.Sprintf("$.devices[%d]", i), fmt.Sprintf("devices[%d].id: a device object ID is required", i))
		}
		kind := strings.ToLower(strings.TrimSpace(d.Kind))
		switch kind {
		case "":
			kind = KindPAW
		case KindPAW, KindSAW:
		default:
			return nil, yamlfile.ErrorAt(file, data, fmt.Sprintf("$.devices[%d].kind", i), fmt.Sprintf("devices[%d].kind: %q is not paw or saw", i, d.Kind))
		}
		key := strings.ToLower(id)
		if j, dup := lines[key]; dup {
			return nil, yamlfile.ErrorAt(file, data, fmt.Sprintf("$.devices[%d].id", i), fmt.Sprintf("devices[%d].id: duplicate device %s (also devices[%d])", i, id, j))
		}
		lines[key] = i
		r := &Registered{ID: id, Name: strings.TrimSpace(d.Name), Owner: strings.TrimSpace(d.Owner), Kind: kind}
		label := strings.ToUpper(kind)
		what := label
		if r.Name != "" {
			what += " " + r.Name
		}
		r.okReason = "registered " + what
		if r.Owner != "" {
			r.otherUserReason = r.okReason + ", used by someone other than its owner: " + label + " of " + r.Owner
		}
		r.noncompliantReason = "registered " + what + " is not compliant (require_compliant)"
		l.byID[key] = r
	}
	return l, nil
}

// Stage sets rec.Context.Device on sign-in records. It is safe for
// concurrent use; the list is an immutable snapshot swapped atomically.
type Stage struct {
	cfg  Config
	log  *slog.Logger
	list atomic.Pointer[List]

	mu   sync.Mutex // serializes reloads (the poller and Reload), never Enrich
	seen fileStamp  // of the file as last read, whether it parsed or not
	// settling is a changed stamp seen once; it is loaded when the next
	// poll sees it again.
	settling fileStamp

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// missing is the stamp of a file that could not be stat'ed.
var missing = fileStamp{size: -1}

// New loads the device list named in cfg and starts watching it for
// changes. A nil log means slog.Default().
func New(cfg Config, log *slog.Logger) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReloadInterval == 0 {
		cfg.ReloadInterval = DefaultReloadInterval
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Stage{cfg: cfg, log: log.With("stage", "device"), stop: make(chan struct{}), done: make(chan struct{})}
	if _, err := s.load(true); err != nil {
		return nil, err
	}
	go s.watch()
	return s, nil
}

// List is the snapshot in use.
func (s *Stage) List() *List { return s.list.Load() }

// Swap replaces the device list.
func (s *Stage) Swap(l *List) { s.list.Store(l) }

// Reload reads the file again now, whether or not it changed. On error the
// list in use is kept.
func (s *Stage) Reload() error {
	_, err := s.load(true)
	return err
}

// load reads and parses the file when force is set or its stamp changed
// since the last read; it reports whether it swapped in a new list.
func (s *Stage) load(force bool) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Stat before reading: a write that lands after the stat changes the
	// stamp again, so the next poll reads the finished file.
	fi, err := os.Stat(s.cfg.Devices)
	if err != nil {
		if !force && s.seen == missing {
			return false, nil // already reported
		}
		s.seen = missing
		return false, fmt.Errorf("devices: %w", err)
	}
	st := fileStamp{mod: fi.ModTime(), size: fi.Size()}
	if !force && st.mod.Equal(s.seen.mod) && st.size == s.seen.size {
		return false, nil
	}
	// A file being rewritten in place (truncate, then write) can be caught
	// half-written, and an empty devices file is valid YAML: load a change
	// only once the file has kept the same stamp for a whole interval, and
	// never a zero-byte file (an emptied list is written as "devices: []").
	if !force && (st.size == 0 || !(st.mod.Equal(s.settling.mod) && st.size == s.settling.size)) {
		s.settling = st
		return false, nil
	}
	s.seen = st
	data, err := os.ReadFile(s.cfg.Devices)
	if err != nil {
		return false, fmt.Errorf("devices: %w", err)
	}
	l, err := ParseList(s.cfg.Devices, data)
	if err != nil {
		return false, err
	}
	s.list.Store(l)
	return true, nil
}

func (s *Stage) watch() {
	defer close(s.done)
	t := time.NewTicker(s.cfg.ReloadInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			swapped, err := s.load(false)
			switch {
			case err != nil:
				s.log.Warn("device list not reloaded, keeping the previous one", "file", s.cfg.Devices, "devices", s.List().Len(), "error", err)
			case swapped:
				s.log.Info("device list reloaded", "file", s.cfg.Devices, "devices", s.List().Len())
			}
		}
	}
}

// Close stops watching the file. It is safe to call more than once.
func (s *Stage) Close() error {
	s.once.Do(func() {
		close(s.stop)
		<-s.done
	})
	return nil
}

// Enrich sets rec.Context.Device on sign-in records; other streams are
// left alone. It allocates the Device, and for an unregistered device the
// reason naming it.
func (s *Stage) Enrich(rec *entra.Record) {
	if rec.Stream != entra.StreamSignIn {
		return
	}
	dd := &rec.SignIn.Device
	d := &entra.Device{
		ID:        dd.DeviceID,
		Compliant: dd.IsCompliant,
		Managed:   dd.IsManaged,
		TrustType: dd.TrustType,
		Browser:   dd.Browser,
		OS:        dd.OperatingSystem,
	}
	rec.Context.Device = d
	if dd.DeviceID == "" {
		d.Reason = ReasonNoDeviceID
		return
	}
	r := s.list.Load().Lookup(dd.DeviceID)
	switch {
	case r == nil:
		d.Reason = "device " + dd.DeviceID + " is not a registered PAW/SAW"
	case s.cfg.RequireCompliant && !dd.IsCompliant:
		d.Reason = r.noncompliantReason
	case r.Owner != "" && otherUser(r.Owner, &rec.Actor):
		d.PAW = true
		d.Reason = r.otherUserReason
	default:
		d.PAW = true
		d.Reason = r.okReason
	}
}

// otherUser reports whether the actor is known and is not owner (a UPN or
// an object ID). An actor without ID and UPN is not held against the device.
func otherUser(owner string, a *entra.Principal) bool {
	if a.ID == "" && a.UPN == "" {
		return false
	}
	return !strings.EqualFold(owner, a.UPN) && !strings.EqualFold(owner, a.ID)
}
