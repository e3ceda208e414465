package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/loaxa/loaxa/agent/console"
)

// quitKey ends `loaxactl console`: Ctrl-], as telnet, because Ctrl-C must
// reach the pole (it cancels a line there).
const quitKey = 0x1d

const consoleUsage = `usage: loaxactl console --port DEVICE [--baud 115200]

A plain terminal on the pole's serial console: what you type goes to the
pole as typed, what the pole says is printed. Ctrl-] quits.

flags:
`

// console handles `loaxactl console`.
func (c *CLI) console(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("loaxactl console", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	port := fs.String("port", "", "serial `DEVICE` of the console cable, e.g. /dev/ttyUSB0 (required)")
	baud := fs.Int("baud", console.DefaultBaud, "serial speed (8N1)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(c.Stdout, consoleUsage)
			fs.SetOutput(c.Stdout)
			fs.PrintDefaults()
			return ExitOK
		}
		return c.usageError("console: %v", err)
	}
	if fs.NArg() > 0 {
		return c.usageError("console takes flags only, got %q", fs.Arg(0))
	}
	if *port == "" {
		return c.usageError("console: --port is required (the console cable, e.g. /dev/ttyUSB0)")
	}
	p, err := console.OpenSerial(*port, *baud)
	if err != nil {
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitUnavailable
	}
	in, restore, err := c.consoleInput()
	if err != nil {
		p.Close()
		fmt.Fprintf(c.Stderr, "loaxactl: %v\n", err)
		return ExitUnavailable
	}
	defer restore()
	fmt.Fprintf(c.Stderr, "connected to %s at %d baud; Ctrl-] quits\r\n", *port, *baud)
	return c.bridge(ctx, p, in, *port)
}

// interruptible is stdin that a Close, or a deadline, can wake.
type interruptible interface {
	io.Reader
	interrupt()
}

// consoleInput prepares stdin: a terminal goes raw (keys go to the pole as
// typed) and non-blocking (so that a lost port ends the program instead of
// waiting for the next key). restore undoes both.
func (c *CLI) consoleInput() (interruptible, func(), error) {
	in := c.Stdin
	if in == nil {
		in = os.Stdin
	}
	f, ok := in.(*os.File)
	if !ok {
		return &closerInput{Reader: in}, func() {}, nil
	}
	restoreTerm, _ := makeRaw(int(f.Fd()))
	nb, restoreFile, err := pollable(int(f.Fd()), f.Name())
	if err != nil {
		// Reads cannot be interrupted then, which only matters when the
		// port goes away first: the next key ends the program.
		return &closerInput{Reader: f}, restoreTerm, nil
	}
	return &fileInput{f: nb}, func() {
		restoreFile()
		restoreTerm()
	}, nil
}

type fileInput struct{ f *os.File }

func (i *fileInput) Read(p []byte) (int, error) { return i.f.Read(p) }
func (i *fileInput) interrupt()                 { _ = i.f.SetReadDeadline(time.Unix(1, 0)) }

type closerInput struct{ io.Reader }

func (i *closerInput) interrupt() {
	if c, ok := i.Reader.(io.Closer); ok {
		_ = c.Close()
	}
}

// bridge copies in to the port and the port to stdout until Ctrl-], the
// end of input, ctx, or the port going away.
func (c *CLI) bridge(ctx context.Context, port io.ReadWriteCloser, in interruptible, name string) int {
	var wg sync.WaitGroup
	portDone := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, err := io.Copy(c.Stdout, port)
		portDone <- err
	}()
	keysDone := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		keysDone <- copyKeys(port, in)
	}()
	code := ExitOK
	select {
	case err := <-keysDone:
		if err != nil {
			fmt.Fprintf(c.Stderr, "\r\nloaxactl: %s: %v\r\n", name, err)
			code = ExitUnavailable
		}
		port.Close()
	case err := <-portDone:
		if err == nil {
			err = io.EOF
		}
		fmt.Fprintf(c.Stderr, "\r\nloaxactl: %s went away: %v\r\n", name, err)
		code = ExitUnavailable
		in.interrupt()
		port.Close()
	case <-ctx.Done():
		in.interrupt()
		port.Close()
		code = ExitInterrupted
	}
	wg.Wait()
	return code
}

// copyKeys sends what is typed to the port until Ctrl-] or the end of the
// input (nil), or an error.
func copyKeys(port io.Writer, in io.Reader) error {
	buf := make([]byte, 1024)
	for {
		n, err := in.Read(buf)
		for i, b := range buf[:n] {
			if b == quitKey {
				_, werr := port.Write(buf[:i])
				return werr
			}
		}
		if n > 0 {
			if _, werr := port.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, os.ErrClosed) || errors.Is(err, io.ErrClosedPipe) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
