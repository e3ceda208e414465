package console

import (
	"context"
	"fmt"
	"io"
	"slices"

	"go.bug.st/serial"
)

// OpenSerial opens a serial device at baud, 8N1, raw, without flow control,
// through go.bug.st/serial. Its Close unblocks a Read in progress.
func OpenSerial(path string, baud int) (io.ReadWriteCloser, error) {
	if !slices.Contains(Bauds, baud) {
		return nil, fmt.Errorf("console: %d baud is not one of %v", baud, Bauds)
	}
	p, err := serial.Open(path, &serial.Mode{BaudRate: baud, DataBits: 8, Parity: serial.NoParity, StopBits: serial.OneStopBit})
	if err != nil {
		return nil, fmt.Errorf("console: open %s: %w", path, err)
	}
	return p, nil
}

// SerialOpener is the Opener of a real port: the same device, opened again
// after every failure.
func SerialOpener(path string, baud int) Opener {
	return func(ctx context.Context) (io.ReadWriteCloser, error) { return OpenSerial(path, baud) }
}
