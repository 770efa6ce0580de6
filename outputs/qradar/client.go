package qradar

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/privtrail/privtrail/internal/delivery"
)

// idleClose is how long an unused connection stays open. delivery gives a
// Sender no Close, so this is also what releases the connection after the
// output stops.
const idleClose = 2 * time.Minute

// client is the Sender: one persistent connection to the syslog receiver,
// opened on first use and again after any failure.
//
// Syslog over TCP has no application acknowledgement: a batch counts as
// accepted once every byte of it was written to the socket. A write error
// closes the connection and fails the whole batch, which delivery sends
// again after back-off on a new connection: records are delivered at
// least once, and a batch cut by a failure may arrive twice in part.
type client struct {
	addr    string
	udp     bool
	tls     *tls.Config // nil unless transport tls
	timeout time.Duration
	maxUDP  int
	log     *slog.Logger

	mu     sync.Mutex
	conn   net.Conn
	w      *bufio.Writer
	gone   chan struct{} // closed when the receiver closes the connection
	idle   *time.Timer
	closed bool
	down   bool // the last attempt failed: log when it works again
}

func newClient(cfg Config, tc *tls.Config, log *slog.Logger) *client {
	return &client{
		addr:    cfg.Address,
		udp:     cfg.Transport == "udp",
		tls:     tc,
		timeout: cfg.Timeout,
		maxUDP:  cfg.MaxUDPBytes,
		log:     log,
	}
}

// Send writes the batch's messages, in order.
func (c *client) Send(ctx context.Context, items [][]byte) delivery.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return delivery.Result{Err: errors.New("qradar output closed")}
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	defer c.armIdle()
	if c.conn != nil && c.receiverClosed() {
		// The receiver closed the connection while it was idle (a restart,
		// an idle timeout). Writing now would "succeed" into a dead socket
		// and lose the batch, so reconnect first.
		c.log.Info("qradar: the receiver closed the connection; reconnecting", "address", c.addr)
		c.drop()
	}
	if c.conn == nil {
		if err := c.connect(ctx); err != nil {
			c.down = true
			return delivery.Result{Err: err}
		}
	}
	var res delivery.Result
	if c.udp {
		res = c.sendUDP(ctx, items)
	} else {
		res = c.sendStream(ctx, items)
	}
	if res.Err != nil {
		c.down = true
	} else if c.down {
		c.down = false
		c.log.Info("qradar: delivering again", "address", c.addr)
	}
	return res
}

func (c *client) sendStream(ctx context.Context, items [][]byte) delivery.Result {
	conn := c.conn
	conn.SetWriteDeadline(time.Now().Add(c.timeout))
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var err error
	for _, it := range items {
		if _, err = c.w.Write(it); err != nil {
			break
		}
	}
	if err == nil {
		err = c.w.Flush()
	}
	if err != nil {
		c.drop()
		return delivery.Result{Err: fmt.Errorf("write to %s: %w (the batch is sent again on a new connection)", c.addr, err)}
	}
	return delivery.Result{}
}

func (c *client) sendUDP(ctx context.Context, items [][]byte) delivery.Result {
	var res delivery.Result
	conn := c.conn
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	conn.SetWriteDeadline(time.Now().Add(c.timeout))
	for i, it := range items {
		if len(it) > c.maxUDP {
			res.Rejected = append(res.Rejected, delivery.Rejection{Index: i, Reason: fmt.Sprintf("the syslog message is %d bytes, over max_udp_bytes (%d): not sent over udp", len(it), c.maxUDP)})
			continue
		}
		if _, err := conn.Write(it); err != nil {
			if errors.Is(err, syscall.EMSGSIZE) {
				res.Rejected = append(res.Rejected, delivery.Rejection{Index: i, Reason: fmt.Sprintf("the %d-byte datagram is larger than the path allows (EMSGSIZE): lower max_udp_bytes or use tcp", len(it))})
				continue
			}
			c.drop()
			return delivery.Result{Err: fmt.Errorf("send to %s: %w", c.addr, err)}
		}
	}
	return res
}

func (c *client) connect(ctx context.Context) error {
	d := &net.Dialer{Timeout: c.timeout, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	switch {
	case c.udp:
		conn, err = d.DialContext(ctx, "udp", c.addr)
	case c.tls != nil:
		td := &tls.Dialer{NetDialer: d, Config: c.tls}
		conn, err = td.DialContext(ctx, "tcp", c.addr)
	default:
		conn, err = d.DialContext(ctx, "tcp", c.addr)
	}
	if err != nil {
		return fmt.Errorf("connect to %s: %w", c.addr, err)
	}
	c.conn = conn
	if !c.udp {
		c.w = bufio.NewWriterSize(conn, 64<<10)
		gone := make(chan struct{})
		c.gone = gone
		go watch(conn, gone)
	}
	c.log.Debug("qradar: connected", "address", c.addr, "local", conn.LocalAddr().String())
	return nil
}

// watch reads the connection until it ends. A syslog receiver never sends
// anything, so the end of the stream (or a reset) means the receiver
// closed it.
func watch(conn net.Conn, gone chan struct{}) {
	var buf [256]byte
	for {
		if _, err := conn.Read(buf[:]); err != nil {
			close(gone)
			return
		}
	}
}

func (c *client) receiverClosed() bool {
	if c.gone == nil {
		return false
	}
	select {
	case <-c.gone:
		return true
	default:
		return false
	}
}

func (c *client) drop() {
	if c.conn != nil {
		closeConn(c.conn)
	}
	c.conn, c.w, c.gone = nil, nil, nil
}

// closeNotifyWait bounds the TLS close_notify alert on closing.
const closeNotifyWait = 100 * time.Millisecond

// closeConn closes conn. A TLS connection's Close sends close_notify
// under its own 5 s write deadline: against a receiver that stopped
// reading it would hold Close (and the agent's stop) that long, so after
// closeNotifyWait the socket under it is closed instead.
func closeConn(conn net.Conn) {
	tc, ok := conn.(*tls.Conn)
	if !ok {
		conn.Close()
		return
	}
	done := make(chan struct{})
	go func() {
		tc.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(closeNotifyWait):
		tc.NetConn().Close()
	}
}

func (c *client) armIdle() {
	if c.conn == nil || c.closed {
		return
	}
	if c.idle == nil {
		c.idle = time.AfterFunc(idleClose, c.closeIdle)
		return
	}
	c.idle.Reset(idleClose)
}

func (c *client) closeIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drop()
}

// Close closes the connection; Send fails from then on.
func (c *client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	if c.idle != nil {
		c.idle.Stop()
	}
	c.drop()
	return nil
}
