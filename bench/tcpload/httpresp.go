package tcpload

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// ErrBadResponse reports a response that is not HTTP/1.x as RFC 9112
// frames it (status line, header fields, Content-Length or chunked body),
// or a header block larger than the read buffer.
var ErrBadResponse = errors.New("tcpload: bad response")

// Response is what ReadResponse learned about one response.
type Response struct {
	Status int   // the status code of the final (non-1xx) response
	Body   int64 // body bytes, chunk framing excluded
	// Close is set when the connection cannot carry another request:
	// "Connection: close", HTTP/1.0 without keep-alive, or a body
	// delimited by the end of the connection.
	Close bool
}

// respReader reads HTTP/1.x responses from a connection through one fixed
// buffer: header lines are parsed in place, bodies are read into the same
// buffer and dropped. Nothing is allocated after newRespReader, whatever
// the size of a body; a header line must fit in the buffer.
type respReader struct {
	r          io.Reader
	buf        []byte
	start, end int   // unread bytes are buf[start:end]
	n          int64 // bytes read from r
}

func newRespReader(r io.Reader, size int) *respReader {
	return &respReader{r: r, buf: make([]byte, size)}
}

// reset starts over on a new connection.
func (p *respReader) reset(r io.Reader) {
	p.r, p.start, p.end = r, 0, 0
}

// fill reads more bytes after the unread ones, moving them to the front
// of the buffer first when it is full.
func (p *respReader) fill() error {
	if p.start > 0 && p.end == len(p.buf) {
		p.end = copy(p.buf, p.buf[p.start:p.end])
		p.start = 0
	}
	if p.end == len(p.buf) {
		return fmt.Errorf("%w: a header line longer than the %d-byte buffer", ErrBadResponse, len(p.buf))
	}
	n, err := p.r.Read(p.buf[p.end:])
	p.end += n
	p.n += int64(n)
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// line returns the next line without its CRLF (or bare LF), valid until
// the next call.
func (p *respReader) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(p.buf[p.start:p.end], '\n'); i >= 0 {
			l := p.buf[p.start : p.start+i]
			p.start += i + 1
			if len(l) > 0 && l[len(l)-1] == '\r' {
				l = l[:len(l)-1]
			}
			return l, nil
		}
		if err := p.fill(); err != nil {
			if err == io.EOF && p.end > p.start {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// discard drops n bytes of body.
func (p *respReader) discard(n int64) error {
	for n > 0 {
		if p.start == p.end {
			p.start, p.end = 0, 0
			if err := p.fill(); err != nil {
				if err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return err
			}
		}
		k := min(int64(p.end-p.start), n)
		p.start += int(k)
		n -= k
	}
	return nil
}

// discardAll drops everything until the connection ends, returning how
// much that was.
func (p *respReader) discardAll() (int64, error) {
	total := int64(p.end - p.start)
	p.start, p.end = 0, 0
	for {
		n, err := p.r.Read(p.buf)
		total += int64(n)
		p.n += int64(n)
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// ReadResponse reads one response to a GET (so a body unless the status
// is 204 or 304), skipping interim 1xx responses. An error wrapping
// ErrBadResponse means the bytes were not a response; others come from
// the connection (io.ErrUnexpectedEOF when it ended inside a response,
// io.EOF when it ended before one began).
func (p *respReader) ReadResponse() (Response, error) {
	for {
		resp, err := p.readOne()
		if err != nil || resp.Status >= 200 || resp.Status == 101 {
			return resp, err
		}
	}
}

func (p *respReader) readOne() (Response, error) {
	var resp Response
	l, err := p.line()
	if err != nil {
		return resp, err
	}
	// HTTP/1.1 200 OK: the version, a space, three digits, then a space
	// and a reason phrase or nothing.
	if len(l) < 12 || string(l[:7]) != "HTTP/1." || l[7] < '0' || l[7] > '9' || l[8] != ' ' ||
		(len(l) > 12 && l[12] != ' ') {
		return resp, badLine("status line", l)
	}
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return resp, badLine("status line", l)
		}
		resp.Status = resp.Status*10 + int(c-'0')
	}
	http10 := l[7] == '0'
	keepAlive := !http10
	length := int64(-1)
	chunked := false
	for {
		l, err := p.line()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return resp, err
		}
		if len(l) == 0 {
			break
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return resp, badLine("header field", l)
		}
		name, value := l[:colon], trimOWS(l[colon+1:])
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseDecimal(value)
			if !ok || (length >= 0 && n != length) {
				return resp, badLine("Content-Length", l)
			}
			length = n
		case equalFold(name, "transfer-encoding"):
			// The last coding decides: chunked must be last (RFC 9112, 6.1).
			chunked = hasSuffixFold(value, "chunked")
			if !chunked {
				keepAlive = false // read to the end of the connection
			}
		case equalFold(name, "connection"):
			if hasToken(value, "close") {
				keepAlive = false
			} else if http10 && hasToken(value, "keep-alive") {
				keepAlive = true
			}
		}
	}
	resp.Close = !keepAlive
	switch {
	case resp.Status < 200 || resp.Status == 204 || resp.Status == 304:
		return resp, nil
	case chunked:
		resp.Body, err = p.chunks()
		return resp, err
	case length >= 0:
		resp.Body = length
		return resp, p.discard(length)
	}
	resp.Close = true
	resp.Body, err = p.discardAll()
	return resp, err
}

// chunks reads a chunked body and its trailer section.
func (p *respReader) chunks() (int64, error) {
	var total int64
	for {
		l, err := p.line()
		if err != nil {
			return total, unexpected(err)
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i] // chunk extensions
		}
		size, ok := parseHex(trimOWS(l))
		if !ok {
			return total, badLine("chunk size", l)
		}
		if size == 0 {
			for { // trailer fields, then the empty line
				l, err := p.line()
				if err != nil {
					return total, unexpected(err)
				}
				if len(l) == 0 {
					return total, nil
				}
			}
		}
		if err := p.discard(size); err != nil {
			return total, err
		}
		total += size
		if l, err := p.line(); err != nil {
			return total, unexpected(err)
		} else if len(l) != 0 {
			return total, badLine("chunk end", l)
		}
	}
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// badLine quotes at most 64 bytes of a line that does not parse. It
// allocates, but only on the error path.
func badLine(what string, l []byte) error {
	if len(l) > 64 {
		l = l[:64]
	}
	return fmt.Errorf("%w: %s %q", ErrBadResponse, what, l)
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// equalFold compares b with a lower-case ASCII string, ignoring case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func hasSuffixFold(b []byte, lower string) bool {
	return len(b) >= len(lower) && equalFold(b[len(b)-len(lower):], lower)
}

// hasToken reports whether the comma-separated list b holds token.
func hasToken(b []byte, token string) bool {
	for len(b) > 0 {
		i := bytes.IndexByte(b, ',')
		if i < 0 {
			i = len(b)
		}
		if equalFold(trimOWS(b[:i]), token) {
			return true
		}
		b = b[min(i+1, len(b)):]
	}
	return false
}

// parseDecimal parses a Content-Length: digits only, at most 18 of them.
func parseDecimal(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseHex parses a chunk size: hex digits only, at most 15 of them.
func parseHex(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}
