package privilege

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/internal/linefile"
)

// The journal keeps what Observe learns between two writes of the state
// file. The state file is written whole, at a clean stop; the role
// changes of the audit records read since would be lost to a crash, yet
// the inputs checkpoint past those records once the outputs have them, so
// a restart never reads them again: their principals would go untagged
// until the role map says otherwise. So every applied change is appended
// to the journal (one JSON line per audit record, beside the state file),
// and the runner calls Sync before it hands a batch to the outputs: no
// checkpoint passes a record whose change is not on disk.
//
// At start the journal is applied over the state file, in the order it
// was written. A record read again after a restart (its checkpoint was
// not committed) names changes the history has already: they carry the
// record's ID and are not applied twice. The journal is emptied when the
// state file is written (at a clean stop, and once it passes
// journalCompactAt, so that it never grows with the run).

// journalCompactAt is the journal size past which Sync writes the state
// file and empties the journal.
const journalCompactAt = 8 << 20

type journal struct {
	path string
	// compactAt is the size past which Sync writes the state file and
	// empties the journal (journalCompactAt; less in tests).
	compactAt int64
	// pending is what Observe applied and has not been written yet
	// (Stage.mu); Sync encodes it, off Observe's lock, which the workers
	// take in turn.
	pending []journalEntry
	// durable is the newest generation whose changes are all on disk.
	durable atomic.Uint64

	mu sync.Mutex     // one writer of the file at a time
	lf *linefile.File // opened at the first write (whole lines only)
	// bytes is the file's size, for the metrics and the compaction.
	bytes atomic.Int64
	buf   []byte // the lines being written, reused
	// unread is why the journal could not be read at start: nothing is
	// written over it (or emptied) until it can be.
	unread error
	closed bool
}

// journalLine is one audit record's changes of one principal.
type journalLine struct {
	ID      string       `json:"id,omitempty"`
	UPN     string       `json:"upn,omitempty"`
	Newest  string       `json:"newest_event,omitempty"`
	Changes []changeFile `json:"changes"`
}

// JournalBytes is the size of the journal: what a restart after a crash
// applies over the state file (0 without a state file).
func (s *Stage) JournalBytes() int64 {
	if s.jr == nil {
		return 0
	}
	return s.jr.bytes.Load()
}

// journalPath is the journal of the state file path.
func journalPath(stateFile string) string { return stateFile + ".journal" }

// journalEntry is one audit record's changes of one principal, to be
// written.
type journalEntry struct {
	id, upn string
	changes []change
	newest  time.Time
}

// add queues the changes an audit record made to a principal. Stage.mu
// is held; changes is the caller's to give.
func (j *journal) add(id, upn string, changes []change, newest time.Time) {
	j.pending = append(j.pending, journalEntry{id: id, upn: upn, changes: changes, newest: newest})
}

// appendLines appends the journal lines of entries to buf.
func appendLines(buf []byte, entries []journalEntry) []byte {
	for _, e := range entries {
		l := journalLine{ID: e.id, UPN: e.upn, Newest: timeText(e.newest), Changes: make([]changeFile, len(e.changes))}
		for i := range e.changes {
			l.Changes[i] = fileOf(&e.changes[i])
		}
		b, err := json.Marshal(&l)
		if err != nil {
			panic(err) // strings and bools only: cannot fail
		}
		buf = append(append(buf, b...), '\n')
	}
	return buf
}

// Sync makes every role change observed up to generation gen (Observe's
// return) durable, in the journal beside the state file, before it
// returns nil; the runner calls it before a batch of that generation goes
// to the outputs. Calls for a generation already durable return at once,
// so the pipelines share one write. Without a state file it does nothing.
// Safe for concurrent use.
func (s *Stage) Sync(gen uint64) error {
	j := s.jr
	if j == nil || j.durable.Load() >= gen {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.durable.Load() >= gen {
		return nil
	}
	switch {
	case j.closed:
		return errors.New("privilege journal: the stage is closed")
	case j.unread != nil:
		return fmt.Errorf("privilege journal not read at start, so not written over: %w", j.unread)
	}
	s.mu.Lock()
	entries, upTo := j.pending, s.gen.Load()
	j.pending = nil
	s.mu.Unlock()
	if len(entries) > 0 {
		j.buf = appendLines(j.buf[:0], entries)
		if err := j.write(j.buf); err != nil {
			s.mu.Lock()
			j.pending = append(entries, j.pending...)
			s.mu.Unlock()
			s.SyncFailures.Add(1)
			return fmt.Errorf("privilege journal: %w", err)
		}
	}
	j.durable.Store(upTo)
	if n := j.bytes.Load(); n > j.compactAt {
		if err := s.compactLocked(); err != nil {
			s.log.Warn("privilege state not written; the journal keeps growing until it is", "file", s.cfg.StateFile, "journal_bytes", n, "err", err)
		}
	}
	return nil
}

// compactJournal writes the state file and empties the journal.
func (s *Stage) compactJournal() error {
	s.jr.mu.Lock()
	defer s.jr.mu.Unlock()
	return s.compactLocked()
}

// compactLocked writes the state file, which then has everything the
// journal has (and what Observe queued since), and empties the journal.
// A crash between the two leaves lines the file has, which the record IDs
// keep from being applied twice. A journal not read at start is left as
// it is. jr.mu is held.
func (s *Stage) compactLocked() error {
	if s.jr.closed {
		return nil // Close wrote it; another stage may own the files now
	}
	if err := s.Save(s.cfg.StateFile); err != nil {
		return err
	}
	if s.jr.unread != nil {
		return nil
	}
	if err := s.jr.empty(); err != nil {
		return fmt.Errorf("privilege journal not emptied: %w", err)
	}
	return nil
}

// open opens the file (cutting off a line a crash tore). j.mu is held.
func (j *journal) open() error {
	if j.lf != nil {
		return nil
	}
	lf, _, err := linefile.Open(j.path, 0o600, 64<<10)
	if err != nil {
		return err
	}
	j.lf = lf
	return nil
}

// write appends whole lines to the file and syncs it; a failed write is
// cut off again. j.mu is held.
func (j *journal) write(data []byte) error {
	if err := j.open(); err != nil {
		return err
	}
	err := j.lf.Append(func(w *bufio.Writer) error { _, err := w.Write(data); return err }, true)
	j.bytes.Store(j.lf.Size())
	return err
}

// empty cuts the file to nothing, durably. j.mu is held. A journal that
// is not there is left so: nothing to empty, no file to create.
func (j *journal) empty() error {
	if j.lf == nil {
		if _, err := os.Stat(j.path); errors.Is(err, fs.ErrNotExist) {
			return nil
		}
	}
	if err := j.open(); err != nil {
		return err
	}
	err := j.lf.Empty()
	j.bytes.Store(j.lf.Size())
	return err
}

// close closes the file for good. j.mu is held.
func (j *journal) close() {
	if j.lf != nil {
		_ = j.lf.Close(false)
		j.lf = nil
	}
	j.closed = true
}

// replayJournal applies the journal's lines, in order, over what New
// restored and loaded, as one generation. Lines that do not parse (a
// write a crash cut short, or damage) are skipped and logged; a torn last
// line is cut off when the file is opened to append.
func (s *Stage) replayJournal() {
	j := s.jr
	data, err := os.ReadFile(j.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			j.unread = err
			s.log.Error("privilege journal not read: nothing is written over it and the pipeline waits; make it readable (or move it away to start without the role changes it holds) and restart", "file", j.path, "err", err)
		}
		return
	}
	if len(data) == 0 {
		return // emptied by the last stop: nothing to apply
	}
	r := s.begin()
	applied, skipped, bad := 0, 0, 0
	var firstBad error
	for off, n := 0, 1; off < len(data); n++ {
		line := data[off:]
		end := bytes.IndexByte(line, '\n')
		if end < 0 {
			bad++ // the tail of a write cut short
			firstBad = cmp.Or(firstBad, fmt.Errorf("line %d: no end of line", n))
			break
		}
		line = line[:end]
		off += end + 1
		l, changes, err := s.parseJournalLine(line)
		if err != nil {
			bad++
			firstBad = cmp.Or(firstBad, fmt.Errorf("line %d: %w", n, err))
			continue
		}
		if t, ok := parseTimeText(l.Newest); ok && t.After(s.newest) {
			s.newest = t
		}
		if !r.learn(l.ID, l.UPN, changes) {
			skipped++
			continue
		}
		applied++
	}
	g := r.end(false)
	j.durable.Store(g)
	j.bytes.Store(int64(bytes.LastIndexByte(data, '\n') + 1))
	if applied+skipped > 0 {
		s.log.Info("privilege journal applied", "file", j.path, "records", applied, "known_already", skipped)
	}
	if bad > 0 {
		s.log.Warn("privilege journal: lines not applied", "file", j.path, "lines", bad, "first", firstBad)
	}
}

func (s *Stage) parseJournalLine(line []byte) (journalLine, []change, error) {
	var l journalLine
	if err := json.Unmarshal(line, &l); err != nil {
		return l, nil, err
	}
	if l.ID == "" && l.UPN == "" {
		return l, nil, errors.New("id or upn is required")
	}
	if len(l.Changes) == 0 {
		return l, nil, errors.New("no change")
	}
	changes := make([]change, len(l.Changes))
	for i := range l.Changes {
		c, err := changeOf(fmt.Sprintf("changes[%d]", i), &l.Changes[i], s.roles)
		if err != nil {
			return l, nil, err
		}
		if c.op == opReset {
			return l, nil, fmt.Errorf("changes[%d]: a snapshot is not an audit record's change", i)
		}
		changes[i] = c
	}
	return l, changes, nil
}
