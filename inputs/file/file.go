// Package file is the input that reads Microsoft Entra ID log exports from
// local files: Graph API pages, JSON arrays, Azure Monitor / Event Hubs
// envelopes, single documents and JSON lines, any of them gzipped. It
// streams every format, so a file of any size is read in memory bounded
// by batch_size × max_record_bytes, and it checkpoints per file in the
// store so that a restart neither loses nor, for committed batches,
// repeats a record.
package file

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/privtrail/privtrail/batch"
	"github.com/privtrail/privtrail/internal/arena"
	"github.com/privtrail/privtrail/internal/store"
)

// Input reads the files of one configured input. Run it once.
type Input struct {
	name string
	cfg  Config
	st   *store.Store
	log  *slog.Logger
	bad  func(origin string, data []byte, reason string)

	// Reading is sequential, one file at a time, so the buffers are shared.
	raw   *bufio.Reader // the file as stored
	br    *bufio.Reader // the decompressed stream, big enough for one whole line
	gz    *gzip.Reader
	sc    scanner
	spans [][]byte
	fp    [fingerprintBytes]byte

	files  map[string]*fileState // by absolute path
	warned map[string]bool

	// Progress of the current scan, in bytes of the files as stored, for
	// a replay's progress line: total of the files found, done of the
	// files finished plus the position in the one being read.
	total, finished, current atomic.Int64
}

// Progress reports how many bytes of the files found by the current scan
// have been read, and their total. Safe to call from any goroutine.
func (in *Input) Progress() (done, total int64) {
	return in.finished.Load() + in.current.Load(), in.total.Load()
}

// fileState is what Run knows about one file between passes over it.
type fileState struct {
	// cp is where reading stands: from the store before the first pass,
	// then where the last pass stopped. Later passes go by it rather than
	// by the store, which lags behind while batches are in flight.
	cp      *checkpoint
	stalled bool // the last pass stopped inside an unfinished record
	commits *commits
	present bool // found by the latest scan
}

type target struct {
	path string // as configured, for origins and logs
	abs  string // for the checkpoint key
}

// New returns the file input called name. st keeps its checkpoints (nil:
// no checkpoints, every run reads everything); bad receives the records
// the input cannot frame; log should already name the input, as the agent
// does. cfg is validated and given its defaults.
func New(name string, cfg Config, st *store.Store, log *slog.Logger, bad func(origin string, data []byte, reason string)) (*Input, error) {
	if name == "" {
		return nil, errors.New("file input: name is required")
	}
	if strings.Contains(name, "/") {
		// The name is part of the checkpoint key "file/<name>/<path>".
		return nil, fmt.Errorf("file input %q: name must not contain '/'", name)
	}
	cfg.Paths = append([]string(nil), cfg.Paths...)
	cfg.Exclude = append([]string(nil), cfg.Exclude...)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("file input %q: %w", name, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Input{name: name, cfg: cfg, st: st, log: log, bad: bad}, nil
}

// Run reads every file the paths name, then, when watching, re-scans every
// Watch interval until ctx is cancelled. It returns nil when done or
// cancelled, and an error only when emit fails for another reason.
func (in *Input) Run(ctx context.Context, emit func(context.Context, *batch.Batch) error) error {
	in.files = map[string]*fileState{}
	in.warned = map[string]bool{}
	if in.br == nil {
		in.raw = bufio.NewReaderSize(nil, 64<<10)
		in.br = bufio.NewReaderSize(nil, in.cfg.MaxRecordBytes+4096)
	}
	for {
		for _, f := range in.files {
			f.present = false
		}
		targets := in.expand()
		var total int64
		for _, t := range targets {
			if fi, err := os.Stat(t.abs); err == nil {
				total += fi.Size()
			}
		}
		in.total.Store(total)
		in.finished.Store(0)
		for _, t := range targets {
			if ctx.Err() != nil {
				return nil
			}
			if err := in.read(ctx, t, emit); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("file input %s: %w", in.name, err)
			}
		}
		for abs, f := range in.files {
			if !f.present && !f.commits.outstanding() {
				delete(in.files, abs)
			}
		}
		if in.cfg.Watch <= 0 {
			return nil
		}
		timer := time.NewTimer(in.cfg.Watch)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
	}
}

// warnOnce keeps a watching input from logging the same missing path at
// every scan.
func (in *Input) warnOnce(key, msg string, args ...any) {
	if in.warned[key] {
		return
	}
	in.warned[key] = true
	in.log.Warn(msg, args...)
}

func (in *Input) reportBad(origin string, data []byte, reason string) {
	if in.bad == nil {
		in.log.Warn("unreadable record", "input", in.name, "origin", origin, "reason", reason)
		return
	}
	in.bad(origin, bytes.Clone(data), reason)
}

// expand lists the files to read, in configuration order, globs and
// directories sorted by name, each file once.
func (in *Input) expand() []target {
	var out []target
	seen := map[string]bool{}
	add := func(p string) {
		if in.excluded(p) {
			return
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			in.warnOnce(p, "cannot resolve path", "path", p, "err", err)
			return
		}
		if !seen[abs] {
			seen[abs] = true
			out = append(out, target{path: p, abs: abs})
		}
	}
	for _, pat := range in.cfg.Paths {
		matches := []string{pat}
		if strings.ContainsAny(pat, `*?[\`) {
			matches, _ = filepath.Glob(pat) // the pattern was validated
			if len(matches) == 0 {
				if _, err := os.Stat(pat); err == nil {
					// A name such as "signins[1].json" that is no glob.
					matches = []string{pat}
				} else {
					in.log.Debug("no file matches", "pattern", pat)
				}
			}
		}
		for _, m := range matches {
			info, err := os.Stat(m)
			if err != nil {
				in.warnOnce(m, "cannot read path", "path", m, "err", err)
				continue
			}
			delete(in.warned, m)
			if !info.IsDir() {
				if info.Mode().IsRegular() {
					add(m)
				}
				continue
			}
			entries, err := os.ReadDir(m)
			if err != nil {
				in.warnOnce(m, "cannot list directory", "path", m, "err", err)
				continue
			}
			for _, e := range entries {
				if !hasDirExtension(e.Name()) {
					continue
				}
				p := filepath.Join(m, e.Name())
				if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() {
					add(p)
				}
			}
		}
	}
	return out
}

func hasDirExtension(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range dirExtensions {
		if ext == e {
			return true
		}
	}
	return false
}

func (in *Input) excluded(p string) bool {
	base := filepath.Base(p)
	for _, pat := range in.cfg.Exclude {
		if ok, _ := filepath.Match(pat, base); ok {
			return true
		}
	}
	return false
}

// read makes one pass over a file: from the start, from its checkpoint, or
// not at all when nothing changed since it was last read.
func (in *Input) read(ctx context.Context, t target, emit func(context.Context, *batch.Batch) error) error {
	f, err := os.Open(t.abs)
	if err != nil {
		in.warnOnce(t.abs, "cannot open file", "path", t.path, "err", err)
		return nil
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil || !info.Mode().IsRegular() {
		return nil
	}
	size := info.Size()
	in.current.Store(0)
	defer func() {
		in.current.Store(0)
		in.finished.Add(size)
	}()
	prefix, ok := in.readPrefix(f, t, size)
	if !ok {
		return nil
	}
	st := in.stateOf(t)
	if st == nil {
		return nil
	}
	resume, unchanged := in.resumable(st, t, prefix, size)
	if unchanged {
		return nil
	}
	p := &pass{in: in, ctx: ctx, emit: emit, t: t, st: st}
	p.cp.FingerprintLen, p.cp.Fingerprint = fingerprint(prefix)
	p.cp.Size = size
	p.items = make([]batch.Item, 0, min(in.cfg.BatchSize, 1024))
	if resume && st.cp.seekable() {
		return p.resumeLines(f)
	}
	return p.fromStart(f, resume)
}

// readPrefix reads the first bytes of f, whose fingerprint tells whether
// the file is still the one a checkpoint was taken of. ok is false when f
// cannot be read.
func (in *Input) readPrefix(f *os.File, t target, size int64) (prefix []byte, ok bool) {
	prefix = in.fp[:min(size, fingerprintBytes)]
	n, err := f.ReadAt(prefix, 0)
	if err != nil && err != io.EOF {
		in.warnOnce(t.abs, "cannot read file", "path", t.path, "err", err)
		return nil, false
	}
	return prefix[:n], true
}

// stateOf returns what Run knows of the file, loading its checkpoint when
// it is first seen, and marks it present. It returns nil when the
// checkpoint cannot be read.
func (in *Input) stateOf(t target) *fileState {
	st := in.files[t.abs]
	if st == nil {
		cp, err := in.load(t.abs)
		if err != nil {
			// Reading without the checkpoint could repeat a whole file.
			in.warnOnce(t.abs, "cannot read checkpoint; file skipped", "path", t.path, "err", err)
			return nil
		}
		st = &fileState{cp: cp, commits: &commits{in: in, abs: t.abs}}
		in.files[t.abs] = st
	}
	st.present = true
	delete(in.warned, t.abs)
	return st
}

// resumable compares the file, by its prefix and size, with where the
// last pass left it: resume when reading may go on from st.cp, unchanged
// when there is nothing new to read.
func (in *Input) resumable(st *fileState, t target, prefix []byte, size int64) (resume, unchanged bool) {
	prev := st.cp
	resume = prev != nil && prev.matches(prefix)
	switch {
	case prev != nil && !resume:
		in.log.Info("file content changed since it was read; reading it from the start", "path", t.path)
	case !resume:
	case prev.Complete && size == prev.Size:
		return resume, true
	case st.stalled && size == prev.Size:
		return resume, true // still unfinished: wait for the writer
	case prev.seekable() && size < prev.Offset:
		in.log.Info("file shrank; reading it from the start", "path", t.path)
		resume = false
	case !prev.seekable() && prev.Complete:
		in.log.Info("file size changed since it was read; reading it from the start", "path", t.path)
		resume = false
	}
	return resume, false
}

// resumeLines reads a file of JSON lines on from the byte its checkpoint
// stands at.
func (p *pass) resumeLines(f *os.File) error {
	in, prev := p.in, p.st.cp
	if _, err := f.Seek(prev.Offset, io.SeekStart); err != nil {
		in.warnOnce(p.t.abs, "cannot seek in file", "path", p.t.path, "err", err)
		return nil
	}
	in.current.Store(prev.Offset)
	in.raw.Reset(&sticky{r: f, n: &in.current})
	in.br.Reset(in.raw)
	p.cp.Format = formatLines
	p.pos = position{Records: prev.Records - prev.Skip, Offset: prev.Offset, Line: prev.Line}
	p.skip = prev.Skip
	in.log.Debug("resuming file", "path", p.t.path, "offset", prev.Offset, "line", prev.Line)
	return p.end(p.lines(prev.Offset, max(prev.Line, 1)-1))
}

// fromStart reads f from its first byte. When resuming a file that cannot
// be sought in (gzipped, or a document), the records its checkpoint
// counts were delivered already and are dropped.
func (p *pass) fromStart(f *os.File, resume bool) error {
	in := p.in
	src, err := p.decompressed(f)
	if err != nil {
		return p.end(p.readFailure(err, p.t.path))
	}
	in.br.Reset(src)
	if resume {
		p.skip = p.st.cp.Records
		in.log.Debug("resuming file", "path", p.t.path, "records", p.st.cp.Records)
	} else {
		in.log.Debug("reading file", "path", p.t.path)
	}
	return p.end(p.frame())
}

// decompressed points the shared readers at f and returns the stream to
// frame: f as stored, or what its gzip data decompresses to.
func (p *pass) decompressed(f *os.File) (io.Reader, error) {
	in := p.in
	in.raw.Reset(&sticky{r: f, n: &in.current})
	if magic, _ := in.raw.Peek(2); len(magic) < 2 || magic[0] != 0x1f || magic[1] != 0x8b {
		return in.raw, nil
	}
	p.cp.Gzip = true
	p.cp.Format = formatDocument
	var err error
	if in.gz == nil {
		in.gz, err = gzip.NewReader(in.raw)
	} else {
		err = in.gz.Reset(in.raw)
	}
	if err != nil {
		return nil, err
	}
	return &sticky{r: in.gz}, nil
}

// frame reads the records of in.br's stream as the format detect finds.
func (p *pass) frame() (outcome, error) {
	in := p.in
	format, bom := in.detect()
	p.cp.Format = format
	if bom > 0 {
		_, _ = in.br.Discard(bom)
	}
	switch format {
	case formatLines:
		p.pos.Offset, p.pos.Line = int64(bom), 1
		return p.lines(int64(bom), 0)
	case formatDocument:
		return p.document(int64(bom))
	default:
		p.cp.Format = formatDocument
		p.broken(p.t.path, nil, format)
		return atEnd, nil
	}
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

// detect decides, from the first window of the stream, how to frame it. It
// returns formatLines, formatDocument, or a reason to give up on the file,
// and the length of a UTF-8 byte-order mark to drop.
func (in *Input) detect() (format string, bom int) {
	// A read error here resurfaces when reading proper; detection goes by
	// whatever arrived before it.
	p, err := in.br.Peek(in.br.Size())
	whole := err != nil // p is all there is, not a full window
	if len(p) >= 2 && (p[0] == 0xff && p[1] == 0xfe || p[0] == 0xfe && p[1] == 0xff) {
		return "not JSON: the file is UTF-16 encoded (Windows PowerShell's default); convert it to UTF-8, e.g. with Out-File -Encoding utf8", 0
	}
	if bytes.HasPrefix(p, utf8BOM) {
		bom = len(utf8BOM)
	}
	i := bom
	for i < len(p) && isSpace(p[i]) {
		i++
	}
	if i == len(p) {
		return formatLines, bom
	}
	if p[i] == '[' {
		return formatDocument, bom
	}
	first, rest, ok := firstLine(p[i:], whole)
	if ok && in.sc.valid(first) {
		return formatLines, bom
	}
	if p[i] == '{' {
		if in.linesAfter(rest, whole) {
			return formatLines, bom
		}
		return formatDocument, bom
	}
	if bytes.IndexByte(p, 0) >= 0 {
		return "not JSON: binary content; file skipped", 0
	}
	return formatLines, bom
}

// linesAfter tells JSON lines whose first line is broken from a document
// whose first line is just its start: in the former the next two lines are
// complete objects. One is not enough: Azure Monitor's storage blobs put
// each record of {"records":[...]} on a line of its own, and the last one
// has no comma after it.
func (in *Input) linesAfter(rest []byte, whole bool) bool {
	for n := 0; n < 2; n++ {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 && whole {
			return n > 0
		}
		var line []byte
		var ok bool
		line, rest, ok = firstLine(rest, whole)
		if !ok || len(line) == 0 || line[0] != '{' || !in.sc.valid(line) {
			return false
		}
	}
	return true
}

// firstLine splits the first line (trimmed) off p; ok is false when the
// line does not end within p and p is not the whole stream.
func firstLine(p []byte, whole bool) (line, rest []byte, ok bool) {
	if nl := bytes.IndexByte(p, '\n'); nl >= 0 {
		return bytes.TrimRight(p[:nl], " \t\r"), p[nl+1:], true
	}
	if whole {
		return bytes.TrimRight(p, " \t\r"), nil, true
	}
	return nil, nil, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

func trimSpace(b []byte) []byte {
	i, j := 0, len(b)
	for i < j && isSpace(b[i]) {
		i++
	}
	for j > i && isSpace(b[j-1]) {
		j--
	}
	return b[i:j]
}

// sticky repeats a read error: bufio.Reader hands an error out once, but a
// reader behind a Peek that failed must fail again when read for real.
type sticky struct {
	r   io.Reader
	err error
	n   *atomic.Int64 // bytes read so far, for Progress; may be nil
}

func (s *sticky) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	s.err = err
	if s.n != nil {
		s.n.Add(int64(n))
	}
	return n, err
}

// outcome is how a pass over a file ended.
type outcome int

const (
	atEnd   outcome = iota // read to the end, or gave up on a broken file
	waiting                // stopped before a record still being written
	failed                 // could not read: try again on the next scan
)

// pass is one read through one file.
type pass struct {
	in   *Input
	ctx  context.Context
	emit func(context.Context, *batch.Batch) error
	t    target
	st   *fileState

	cp     checkpoint // identity of the file: format, fingerprint, size
	pos    position   // after the last record consumed
	skip   int64      // records still to drop, already delivered before a restart
	eofOff int64      // bytes read when the end was reached, uncompressed only
	items  []batch.Item
	// data holds the items' bytes, in pooled chunks given back when their
	// batch is released (internal/arena).
	data *arena.Arena
	sent int // records emitted by this pass
	bad  int // records reported bad by this pass
}

// take consumes one good record; data is copied, the caller may reuse it.
func (p *pass) take(data []byte, origin string, after position) error {
	after.Records = p.pos.Records + 1
	p.pos = after
	if p.skip > 0 {
		p.skip--
		return nil
	}
	if p.data == nil {
		p.data = new(arena.Arena)
	}
	p.items = append(p.items, batch.Item{Data: p.data.Copy(data), Origin: origin})
	p.sent++
	if len(p.items) >= p.in.cfg.BatchSize {
		return p.flush(false)
	}
	return nil
}

// reject consumes one record that cannot be framed.
func (p *pass) reject(origin string, data []byte, reason string, after position) {
	after.Records = p.pos.Records + 1
	p.pos = after
	if p.skip > 0 {
		p.skip--
		return
	}
	p.bad++
	p.in.reportBad(origin, data, reason)
}

// broken reports a file that cannot be read further. It is no record of
// its own, so it is reported even while skipping already delivered records.
func (p *pass) broken(origin string, data []byte, reason string) {
	p.bad++
	p.in.reportBad(origin, data, reason)
}

func (p *pass) snapshot(complete bool) checkpoint {
	cp := p.cp
	cp.position = p.pos
	cp.Complete = complete
	if !cp.seekable() {
		cp.Offset, cp.Line, cp.Skip = 0, 0, 0
	}
	if !cp.Gzip && p.eofOff > cp.Size {
		cp.Size = p.eofOff
	}
	return cp
}

func (p *pass) flush(complete bool) error {
	b := &batch.Batch{Input: p.in.name, Items: p.items}
	if p.data != nil {
		b.OnRelease(p.data.Release)
		p.data = nil
	}
	b.Commit = p.st.commits.track(p.snapshot(complete))
	p.items = make([]batch.Item, 0, min(p.in.cfg.BatchSize, 1024))
	return p.emit(p.ctx, b)
}

// end emits what is left of the file and arranges for its final
// checkpoint. A batch never spans two files, so its Commit checkpoints one.
func (p *pass) end(o outcome, err error) error {
	if err != nil {
		return err
	}
	complete := o == atEnd
	p.st.stalled = o == waiting
	cp := p.snapshot(complete)
	p.st.cp = &cp
	if p.sent > 0 || p.bad > 0 {
		p.in.log.Info("read file", "path", p.t.path, "records", p.sent, "bad", p.bad, "complete", complete)
	}
	if o == waiting {
		p.in.log.Debug("file ends inside a record; waiting for the writer", "path", p.t.path)
	}
	if len(p.items) > 0 {
		return p.flush(complete)
	}
	if err := p.st.commits.finish(cp); err != nil {
		p.in.log.Error("cannot write checkpoint", "path", p.t.path, "err", err)
	}
	return nil
}

// readFailure sorts an error from below the framing: a file that could not
// be read is retried on the next scan, a truncated one waits for its
// writer when watching, and corrupt compressed data gives up on the file.
func (p *pass) readFailure(err error, origin string) (outcome, error) {
	var pe *fs.PathError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) && p.in.cfg.Watch > 0:
		return waiting, nil
	case errors.As(err, &pe):
		p.in.log.Error("cannot read file; will try again", "path", p.t.path, "err", err)
		return failed, nil
	case errors.Is(err, io.ErrUnexpectedEOF):
		p.broken(origin, nil, "compressed data ends early (truncated file); the rest of the file is skipped")
	default:
		p.broken(origin, nil, "cannot decompress: "+err.Error()+"; the rest of the file is skipped")
	}
	return atEnd, nil
}

// lines reads JSON lines from in.br positioned at byte off, the start of
// line number line+1. Records are cut at newlines only, so a broken line
// costs that line alone.
func (p *pass) lines(off, line int64) (outcome, error) {
	in := p.in
	limit := in.cfg.MaxRecordBytes
	// Only a plain file can grow, and its last line may be half written.
	holdTail := in.cfg.Watch > 0 && !p.cp.Gzip
	for {
		if line&1023 == 0 {
			if err := p.ctx.Err(); err != nil {
				return 0, err
			}
		}
		start := off
		text, long, n, err := p.nextLine()
		off += n
		if err != nil && err != io.EOF {
			return p.readFailure(err, p.t.path+":"+strconv.FormatInt(line+1, 10))
		}
		eof := err == io.EOF
		if eof && off == start {
			return p.linesEnd(off, line+1)
		}
		line++
		origin := p.t.path + ":" + strconv.FormatInt(line, 10)
		next := position{Offset: off, Line: line + 1}
		// A last line that does not parse may still be being written:
		// when watching, leave it for a later scan.
		hold := eof && holdTail
		switch {
		case long && hold:
			return p.hold(start, line, off)
		case long:
			p.reject(origin, text, fmt.Sprintf("line is longer than max_record_bytes (%d)", limit), next)
		case len(text) == 0:
		case plainRecordLine(text):
			if err := p.take(text, origin, next); err != nil {
				return 0, err
			}
		default:
			se, err := p.framedLine(text, origin, start, line, next)
			switch {
			case err != nil:
				return 0, err
			case se != nil && hold:
				return p.hold(start, line, off)
			case se != nil:
				p.reject(origin, text, fmt.Sprintf("not valid JSON: %s at column %d", se.msg, se.off+1), next)
			}
		}
		if eof {
			return p.linesEnd(off, line+1)
		}
	}
}

// nextLine reads the next line from in.br and returns it trimmed, with n,
// the bytes it takes up in the stream. A line longer than max_record_bytes
// is read to its end, but only a copy of its start, for the bad-record
// report, is returned, and long is set: in.br holds one record, not any
// line.
func (p *pass) nextLine() (text []byte, long bool, n int64, err error) {
	br := p.in.br
	frag, err := br.ReadSlice('\n')
	n = int64(len(frag))
	if err == bufio.ErrBufferFull {
		preview := previewOf(trimSpace(frag))
		for err == bufio.ErrBufferFull {
			frag, err = br.ReadSlice('\n')
			n += int64(len(frag))
		}
		return preview, true, n, err
	}
	text = trimSpace(frag)
	if len(text) > p.in.cfg.MaxRecordBytes {
		return previewOf(text), true, n, err
	}
	return text, false, n, err
}

// previewOf copies the start of a record too long to hand over whole: the
// original is in a buffer about to be reused.
func previewOf(b []byte) []byte {
	return bytes.Clone(b[:min(len(b), previewBytes)])
}

// framedLine hands over the records of a line that needs the scanner: one
// record, validated, or an envelope's records. A line that is not valid
// JSON hands over nothing and returns its syntax error.
func (p *pass) framedLine(text []byte, origin string, start, line int64, next position) (*syntaxError, error) {
	in := p.in
	in.spans = in.spans[:0]
	err := in.sc.line(text, in.cfg.MaxRecordBytes, func(d []byte, _ bool) error {
		in.spans = append(in.spans, d)
		return nil
	})
	var se *syntaxError
	switch {
	case errors.As(err, &se):
		return se, nil
	case err != nil:
		return nil, err
	case !in.sc.split:
		return nil, p.take(in.spans[0], origin, next)
	}
	// An envelope line: a checkpoint inside it says how many of its
	// records were consumed, so resuming re-reads the line.
	for k, d := range in.spans {
		at := position{Offset: start, Line: line, Skip: int64(k + 1)}
		if err := p.take(d, fmt.Sprintf("%s:%d record %d", p.t.path, line, k+1), at); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// linesEnd ends a pass at the end of the stream, off bytes in, where line
// number line would start.
func (p *pass) linesEnd(off, line int64) (outcome, error) {
	p.eofOff = off
	p.pos.Offset, p.pos.Line, p.pos.Skip = off, line, 0
	return atEnd, nil
}

// hold ends a pass before the line at start, number line, unread.
func (p *pass) hold(start, line, off int64) (outcome, error) {
	p.eofOff = off
	p.pos.Offset, p.pos.Line, p.pos.Skip = start, line, 0
	return waiting, nil
}

// document streams a file that is one or more JSON documents: arrays,
// Graph pages, envelopes, single objects.
func (p *pass) document(base int64) (outcome, error) {
	in := p.in
	limit := in.cfg.MaxRecordBytes
	in.sc.resetStream(in.br, base, limit)
	err := in.sc.documents(func(d []byte, over bool) error {
		n := p.pos.Records + 1
		if n&1023 == 0 {
			if err := p.ctx.Err(); err != nil {
				return err
			}
		}
		origin := p.t.path + ":record " + strconv.FormatInt(n, 10)
		if over {
			p.reject(origin, d, fmt.Sprintf("record is longer than max_record_bytes (%d)", limit), position{})
			return nil
		}
		return p.take(d, origin, position{})
	})
	if err == nil {
		if !p.cp.Gzip {
			p.eofOff = in.sc.off()
		}
		return atEnd, nil
	}
	origin := fmt.Sprintf("%s:record %d", p.t.path, p.pos.Records+1)
	var se *syntaxError
	var re *readError
	switch {
	case errors.As(err, &se):
		if se.eof && in.cfg.Watch > 0 {
			return waiting, nil
		}
		where := "byte offset"
		if p.cp.Gzip {
			where = "decompressed byte offset"
		}
		p.broken(origin, in.sc.partial(), fmt.Sprintf("broken JSON at %s %d: %s; the rest of the file is skipped", where, se.off, se.msg))
		return atEnd, nil
	case errors.As(err, &re):
		return p.readFailure(re.err, origin)
	}
	return 0, err
}

// plainRecordLine reports whether a JSON line is one record that needs no
// framing: an object whose first key is not an envelope's ("records",
// "value", "@odata…"). Such a line is handed over as it is, without the
// validating scan: the decoder validates every record anyway (and
// dead-letters a broken one with this line's origin), and scanning each
// byte twice made the single reading goroutine the pipeline's bottleneck.
func plainRecordLine(text []byte) bool {
	if len(text) < 2 || text[0] != '{' || text[len(text)-1] != '}' {
		return false
	}
	i := 1
	for i < len(text) && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n') {
		i++
	}
	if i >= len(text) || text[i] != '"' {
		return false
	}
	key := text[i+1:]
	for _, k := range []string{`records"`, `value"`, `@odata`} {
		if len(key) >= len(k) && strings.EqualFold(string(key[:len(k)]), k) {
			return false
		}
	}
	return true
}
