package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Run is one measured run of a program.
type Run struct {
	Wall   time.Duration
	MaxRSS int64 // bytes; 0 where the system does not say
}

// Process runs name with args, stdin read from the file in (none when
// ""), stdout written to the file out (the null device when ""), and
// measures it as a user would with /usr/bin/time: wall time and the peak
// resident set of the process.
func Process(ctx context.Context, in, out, name string, args ...string) (Run, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if in != "" {
		f, err := os.Open(in)
		if err != nil {
			return Run{}, err
		}
		defer f.Close()
		cmd.Stdin = f
	}
	if out == "" {
		out = os.DevNull
	}
	f, err := os.Create(out)
	if err != nil {
		return Run{}, err
	}
	defer f.Close()
	cmd.Stdout = f
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	err = cmd.Run()
	r := Run{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			r.MaxRSS = int64(ru.Maxrss) * 1024 // kilobytes on Linux
		}
	}
	if err != nil {
		tail := stderr.Bytes()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return r, fmt.Errorf("%s: %w\n%s", name, err, tail)
	}
	return r, nil
}
