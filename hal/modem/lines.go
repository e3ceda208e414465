package modem

// lineSplitter cuts the byte stream from the modem into lines. A modem
// ends its lines with CR LF, but echo ends with a bare CR and noise with
// anything, so either byte ends a line; empty lines are skipped. A line
// longer than max is dropped whole (the bytes up to the next line end are
// discarded), so noise cannot grow memory.
type lineSplitter struct {
	max      int
	buf      []byte
	overflow bool // discarding until the next line end
	// Dropped counts the lines dropped for being too long.
	Dropped int
}

func newLineSplitter(max int) *lineSplitter {
	if max <= 0 {
		max = DefaultMaxLine
	}
	return &lineSplitter{max: max, buf: make([]byte, 0, 128)}
}

// Feed consumes p and calls emit for every complete line, in order.
func (s *lineSplitter) Feed(p []byte, emit func(string)) {
	for _, b := range p {
		if b == '\r' || b == '\n' {
			if s.overflow {
				s.overflow = false
			} else if len(s.buf) > 0 {
				emit(string(s.buf))
			}
			s.buf = s.buf[:0]
			continue
		}
		if s.overflow {
			continue
		}
		if len(s.buf) >= s.max {
			s.overflow = true
			s.Dropped++
			s.buf = s.buf[:0]
			continue
		}
		s.buf = append(s.buf, b)
	}
}
