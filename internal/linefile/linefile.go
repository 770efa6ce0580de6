// Package linefile appends whole lines to a file, so that whoever tails it
// (Filebeat, a Splunk universal forwarder, `jq`) only ever reads complete
// records. A write that fails part-way (a full disk, an I/O error) is cut
// back to where it began before the error is returned, and a torn last
// line that a crash (kill -9, power loss) left behind is cut off when the
// file is opened again: its batch was never acknowledged, so it is
// written again in full.
package linefile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// File is a JSON-lines (or any lines) file open for appending. It is not
// safe for concurrent use; one process appends to a file at a time.
type File struct {
	f    *os.File
	out  counter // f, counting what reaches it
	w    *bufio.Writer
	size int64 // bytes of complete lines: where the next append begins
	path string
}

// counter counts the bytes written to the file since the last complete
// append: what to add to size, without asking the file.
type counter struct {
	f *os.File
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	return n, err
}

// Open opens (creating, with its folder) the file at path for appending,
// after cutting off a torn last line. It returns how many bytes it cut.
func Open(path string, perm os.FileMode, bufSize int) (*File, int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, 0, err
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, perm)
	if err != nil {
		return nil, 0, err
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		// A new file's name must survive a crash as its lines do; a file
		// system that cannot sync a folder still has the file.
		_ = SyncDir(filepath.Dir(path))
	}
	lf := &File{f: f, path: path}
	lf.out.f = f
	lf.w = bufio.NewWriterSize(&lf.out, bufSize)
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if !fi.Mode().IsRegular() {
		// /dev/null, a pipe: nothing to repair or cut back.
		lf.size = -1
		return lf, 0, nil
	}
	end, err := lastLineEnd(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	if end < fi.Size() {
		if err := f.Truncate(end); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("%s: cut off a torn last line: %w", path, err)
		}
	}
	lf.size = end
	return lf, fi.Size() - end, nil
}

// lastLineEnd is the offset just after the file's last newline (0 when it
// has none).
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := f.ReadAt(chunk, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// Append writes, through a buffer, what fill writes (whole lines, each
// ending in '\n'), then flushes it and, with sync, makes it durable. When
// anything fails, the file is cut back to where Append began and the
// error returned: the caller may retry the same lines.
func (lf *File) Append(fill func(w *bufio.Writer) error, sync bool) error {
	lf.out.n = 0
	err := fill(lf.w)
	if err == nil {
		err = lf.w.Flush()
	}
	if err == nil && sync && lf.size >= 0 {
		err = lf.f.Sync()
	}
	if err == nil {
		if lf.size >= 0 {
			lf.size += lf.out.n
		}
		return nil
	}
	lf.w.Reset(&lf.out)
	if lf.size < 0 {
		return err
	}
	if terr := lf.f.Truncate(lf.size); terr != nil {
		return fmt.Errorf("%w; and cutting %s back to its last complete line failed: %v", err, lf.path, terr)
	}
	return err
}

// Empty cuts the file to nothing, durably (an empty file is left as it
// is).
func (lf *File) Empty() error {
	if lf.size <= 0 {
		return nil
	}
	if err := lf.f.Truncate(0); err != nil {
		return err
	}
	lf.size = 0
	return lf.f.Sync()
}

// Size is the bytes of complete lines in the file (-1: not a regular
// file).
func (lf *File) Size() int64 { return lf.size }

// SyncDir makes the names in dir durable: a file created or renamed
// there survives a crash once it returns.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close flushes nothing (Append always flushes) and, with sync, makes the
// file durable before closing it.
func (lf *File) Close(sync bool) error {
	var err error
	if sync && lf.size >= 0 {
		err = lf.f.Sync()
	}
	if cerr := lf.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Regular tells whether the file is a regular file (not /dev/null, a
// pipe or a terminal: nothing to sync, cut back or repair there).
func (lf *File) Regular() bool { return lf.size >= 0 }

// Path is the file's path.
func (lf *File) Path() string { return lf.path }
