// Package tmpfs gives tests a real filesystem of a fixed size that they
// can fill to the last byte and free again: a full disk is a fault every
// host meets, and only a real one shows what the store, the buffers and
// the outputs do with ENOSPC.
package tmpfs

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// FS is a mounted tmpfs.
type FS struct {
	// Dir is the mount point.
	Dir    string
	t      testing.TB
	filler string
}

// Mount mounts a tmpfs of size bytes on a new folder and unmounts it when
// the test ends. Mounting needs root (CI runs as root); elsewhere the test
// is skipped, saying so.
func Mount(t testing.TB, size int64) *FS {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.FormatInt(size, 10)); err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root): %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return &FS{Dir: dir, t: t, filler: filepath.Join(dir, ".filler")}
}

// Fill writes a file until the filesystem has no byte left.
func (fs *FS) Fill() {
	fs.t.Helper()
	f, err := os.OpenFile(fs.filler, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		fs.t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				break
			}
			fs.t.Fatal(err)
		}
	}
	// A last partial block may still fit.
	for _, n := range []int{1024, 256, 64, 16, 1} {
		for {
			if _, err := f.Write(block[:n]); err != nil {
				break
			}
		}
	}
}

// Free removes what Fill wrote.
func (fs *FS) Free() {
	fs.t.Helper()
	if err := os.Remove(fs.filler); err != nil && !errors.Is(err, os.ErrNotExist) {
		fs.t.Fatal(err)
	}
}
