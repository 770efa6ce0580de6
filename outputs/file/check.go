package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// Check tests that cfg's file can be written without writing to it
// (privtrail check): its folder must be writable (a temporary file is
// created there and removed) or, when the folder does not exist yet, its
// nearest existing parent, in which New creates it; an existing file must
// be a file that opens for appending. It returns what was verified.
func Check(_ context.Context, cfg Config, _ *slog.Logger) (string, error) {
	if err := cfg.Validate(); err != nil {
		return "", err
	}
	dir := filepath.Dir(cfg.Path)
	existing := dir
	for {
		fi, err := os.Stat(existing)
		if err == nil {
			if !fi.IsDir() {
				return "", fmt.Errorf("%s is not a folder", existing)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) || filepath.Dir(existing) == existing {
			return "", err
		}
		existing = filepath.Dir(existing)
	}
	tmp, err := os.CreateTemp(existing, ".privtrail-check-*")
	if err != nil {
		return "", fmt.Errorf("folder %s is not writable: %w", existing, err)
	}
	tmp.Close()
	if err := os.Remove(tmp.Name()); err != nil {
		return "", err
	}
	if existing != dir {
		return fmt.Sprintf("%s does not exist yet; %s is writable, the output creates it", dir, existing), nil
	}

	fi, err := os.Stat(cfg.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("folder %s is writable; %s will be created", dir, filepath.Base(cfg.Path)), nil
	case err != nil:
		return "", err
	case fi.IsDir():
		return "", fmt.Errorf("%s is a folder, not a file", cfg.Path)
	}
	f, err := os.OpenFile(cfg.Path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return "", fmt.Errorf("%s cannot be appended to: %w", cfg.Path, err)
	}
	f.Close()
	return fmt.Sprintf("folder %s is writable; %s opens for appending", dir, filepath.Base(cfg.Path)), nil
}
