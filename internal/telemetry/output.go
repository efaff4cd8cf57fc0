package telemetry

import (
	"bufio"
	"io"
	"sync"
	"time"
)

// AuditBufferBytes bounds the audit lines held in memory between writes: with
// the flush interval, it bounds what a crash can lose.
const AuditBufferBytes = 32 << 10

// output is the one writer behind both logs. Audit lines collect in a
// bufio.Writer that writes out when full, every interval and on Close; an
// application line is written out at once, with the audit lines before it.
type output struct {
	mu sync.Mutex
	w  io.Writer
	b  *bufio.Writer // nil: unbuffered

	stop, done chan struct{}
	closeOnce  sync.Once
}

// newOutput writes audit lines to w at least every interval; 0 writes each
// at once.
func newOutput(w io.Writer, interval time.Duration) *output {
	o := &output{w: w}
	if interval <= 0 {
		return o
	}
	o.b = bufio.NewWriterSize(w, AuditBufferBytes)
	o.stop, o.done = make(chan struct{}), make(chan struct{})
	go o.flushEvery(interval)
	return o
}

func (o *output) flushEvery(interval time.Duration) {
	defer close(o.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.mu.Lock()
			_ = o.flushLocked()
			o.mu.Unlock()
		}
	}
}

// Write writes an application line at once.
func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b == nil {
		return o.w.Write(p)
	}
	n, err := o.b.Write(p)
	if err == nil {
		err = o.flushLocked()
	}
	return n, err
}

// flushLocked writes out what is pending. bufio.Writer's errors are sticky:
// after a failed write the buffer is dropped, so that the audit log resumes
// with the next line instead of failing from then on.
func (o *output) flushLocked() error {
	err := o.b.Flush()
	if err != nil {
		o.b.Reset(o.w)
	}
	return err
}

// Close stops the periodic writes and writes out what is pending; later
// lines are written at once.
func (o *output) Close() error {
	if o.b == nil {
		return nil
	}
	o.closeOnce.Do(func() { close(o.stop) })
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.flushLocked()
	o.b = nil
	return err
}

// auditWriter is output's buffered side.
type auditWriter struct{ o *output }

func (a auditWriter) Write(p []byte) (int, error) {
	o := a.o
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.b == nil {
		return o.w.Write(p)
	}
	n, err := o.b.Write(p)
	if err != nil {
		o.b.Reset(o.w)
	}
	return n, err
}
