// Package rsyslogd runs a real rsyslogd on loopback for the QRadar
// output's tests and for `privtrail bench`: found where Debian installs
// it, started in the foreground with a configuration of the caller's, and
// ready once it accepts connections on the port it reports.
package rsyslogd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Path is the rsyslogd binary, or "" when it is not installed.
func Path() string {
	if p, err := exec.LookPath("rsyslogd"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/rsyslogd"); err == nil {
		return "/usr/sbin/rsyslogd"
	}
	return ""
}

// Process is a running rsyslogd.
type Process struct {
	// Port is the TCP port it listens on.
	Port   int
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *bytes.Buffer
}

// PortFile is where the configuration must have imtcp write the port it
// listens on (listenPortFileName), in dir.
func PortFile(dir string) string { return filepath.Join(dir, "port") }

// Start writes conf to dir/rsyslog.conf, starts bin on it, and waits up to
// ten seconds for it to listen: the port read from PortFile(dir), or port
// when not 0, accepting a connection.
func Start(bin, dir, conf string, port int) (*Process, error) {
	portFile := PortFile(dir)
	os.Remove(portFile)
	confPath := filepath.Join(dir, "rsyslog.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p := &Process{Port: port, stderr: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "-n", "-f", confPath, "-i", filepath.Join(dir, "rsyslogd.pid"))
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start rsyslogd: %w", err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-p.done:
			return nil, fmt.Errorf("rsyslogd exited: %s\n%s", p.cmd.ProcessState, strings.TrimSpace(p.stderr.String()))
		default:
		}
		if time.Now().After(deadline) {
			p.Signal(syscall.SIGKILL)
			return nil, errors.New("rsyslogd did not start listening:\n" + strings.TrimSpace(p.stderr.String()))
		}
		if p.Port == 0 {
			if b, err := os.ReadFile(portFile); err == nil {
				if n, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && n > 0 {
					p.Port = n
				}
			}
		}
		if p.Port != 0 {
			if c, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
				c.Close()
				return p, nil
			}
		}
	}
}

// Addr is the loopback address it listens on.
func (p *Process) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)) }

// Signal sends sig (SIGTERM: it writes what it received first; SIGKILL:
// as a crash) and waits for it to exit, killing it after ten seconds.
func (p *Process) Signal(sig syscall.Signal) {
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Stderr is what rsyslogd has written to its standard error and output.
func (p *Process) Stderr() string { return p.stderr.String() }
