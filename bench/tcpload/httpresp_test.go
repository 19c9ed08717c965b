package tcpload

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadResponse(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []Response // one per response in the stream
		err      error      // of the response after the wanted ones
	}{
		{name: "content-length", in: "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
			want: []Response{{Status: 200, Body: 5}}, err: io.EOF},
		{name: "two on one connection, LF only, odd case",
			in:   "HTTP/1.1 200 OK\nCONTENT-length:  3 \n\nabcHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
			want: []Response{{Status: 200, Body: 3}, {Status: 404}}, err: io.EOF},
		{name: "no reason phrase", in: "HTTP/1.1 204\r\n\r\n", want: []Response{{Status: 204}}, err: io.EOF},
		{name: "chunked with extension and trailer",
			in:   "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: y\r\n\r\n",
			want: []Response{{Status: 200, Body: 15}}, err: io.EOF},
		{name: "interim 100 skipped", in: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
			want: []Response{{Status: 200, Body: 1}}, err: io.EOF},
		{name: "connection close", in: "HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
			want: []Response{{Status: 200, Close: true}}, err: io.EOF},
		{name: "HTTP/1.0 closes by default", in: "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n",
			want: []Response{{Status: 200, Close: true}}, err: io.EOF},
		{name: "HTTP/1.0 keep-alive", in: "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n",
			want: []Response{{Status: 200}}, err: io.EOF},
		{name: "body to the end", in: "HTTP/1.1 200 OK\r\n\r\nuntil the end",
			want: []Response{{Status: 200, Body: 13, Close: true}}, err: io.EOF},
		{name: "304 has no body", in: "HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
			want: []Response{{Status: 304}}, err: io.EOF},
		{name: "truncated body", in: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", err: io.ErrUnexpectedEOF},
		{name: "truncated headers", in: "HTTP/1.1 200 OK\r\nContent-Le", err: io.ErrUnexpectedEOF},
		{name: "truncated chunk", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", err: io.ErrUnexpectedEOF},
		{name: "not HTTP", in: "SSH-2.0-OpenSSH_9.2\r\n", err: ErrBadResponse},
		{name: "HTTP/2 preface", in: "HTTP/2 200\r\n\r\n", err: ErrBadResponse},
		{name: "bad status", in: "HTTP/1.1 2x0 OK\r\n\r\n", err: ErrBadResponse},
		{name: "bad length", in: "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", err: ErrBadResponse},
		{name: "conflicting lengths", in: "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx", err: ErrBadResponse},
		{name: "header without colon", in: "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", err: ErrBadResponse},
		{name: "bad chunk size", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", err: ErrBadResponse},
		{name: "chunk without CRLF", in: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", err: ErrBadResponse},
		{name: "header line too long", in: "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", 300) + "\r\n\r\n", err: ErrBadResponse},
	} {
		for _, oneByte := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.in)
			if oneByte {
				r = iotest.OneByteReader(r)
			}
			p := newRespReader(r, 256)
			for i, want := range tc.want {
				got, err := p.ReadResponse()
				if err != nil || got != want {
					t.Errorf("%s (one byte %v): response %d = %+v, %v; want %+v", tc.name, oneByte, i, got, err, want)
				}
			}
			if _, err := p.ReadResponse(); !errors.Is(err, tc.err) {
				t.Errorf("%s (one byte %v): last error %v, want %v", tc.name, oneByte, err, tc.err)
			}
			if p.n != int64(len(tc.in)) && tc.err == io.EOF {
				t.Errorf("%s: counted %d bytes read, want %d", tc.name, p.n, len(tc.in))
			}
		}
	}
}

// A body much larger than the buffer goes through it without growing it.
func TestReadResponseLargeBody(t *testing.T) {
	body := strings.Repeat("x", 1<<20)
	in := "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + body +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n" + body + "\r\n0\r\n\r\n"
	p := newRespReader(strings.NewReader(in), 4096)
	for range 2 {
		if got, err := p.ReadResponse(); err != nil || got.Body != 1<<20 {
			t.Fatalf("got %+v, %v", got, err)
		}
	}
	if len(p.buf) != 4096 {
		t.Errorf("buffer grew to %d", len(p.buf))
	}
}

// Responses written by net/http's server code parse with the status and
// body length it wrote.
func TestReadResponseFromNetHTTP(t *testing.T) {
	var stream bytes.Buffer
	var want []Response
	for _, r := range []struct {
		status  int
		body    string
		length  int64 // -1: chunked
		close   bool
		proto10 bool
	}{
		{200, "hello", 5, false, false}, {500, "oops", -1, false, false}, {301, "", 0, false, false},
		{200, strings.Repeat("z", 70000), -1, false, false}, {200, "bye", 3, true, false},
	} {
		resp := &http.Response{StatusCode: r.status, ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
			ContentLength: r.length, Body: io.NopCloser(strings.NewReader(r.body)), Close: r.close}
		if r.length < 0 {
			resp.TransferEncoding = []string{"chunked"}
		}
		if err := resp.Write(&stream); err != nil {
			t.Fatal(err)
		}
		want = append(want, Response{Status: r.status, Body: int64(len(r.body)), Close: r.close})
	}
	p := newRespReader(&stream, 4096)
	for i, w := range want {
		if got, err := p.ReadResponse(); err != nil || got != w {
			t.Errorf("response %d: got %+v, %v; want %+v", i, got, err, w)
		}
	}
}

// FuzzReadResponse: any bytes parse without a panic, never report a body
// longer than what was read, and when net/http reads a keep-alive response
// with a declared length from the same bytes, both agree on its status and
// body length.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
		"HTTP/1.0 404 Not Found\r\n\r\nbody",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p := newRespReader(bytes.NewReader(in), 512)
		got, err := p.ReadResponse()
		if err != nil {
			return
		}
		if got.Body > int64(len(in)) || p.n > int64(len(in)) {
			t.Fatalf("body %d, read %d of %d bytes", got.Body, p.n, len(in))
		}
		hr, herr := http.ReadResponse(bufio.NewReader(bytes.NewReader(in)), nil)
		if herr != nil || hr.StatusCode < 200 || hr.Close || hr.ContentLength < 0 || len(hr.TransferEncoding) > 0 {
			return
		}
		n, berr := io.Copy(io.Discard, hr.Body)
		if berr == nil && (hr.StatusCode != got.Status || n != got.Body) {
			t.Fatalf("net/http: %d with %d bytes; tcpload: %+v", hr.StatusCode, n, got)
		}
	})
}
