package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSendOverTLS goes through a TLS front that demands a client
// certificate, as a provincial broker would, with files as an operator
// passes them.
func TestSendOverTLS(t *testing.T) {
	h := newHarness(t)
	h.device("pole-1", nil, okWith(""))
	pki := newPKI(t)
	url := tlsFront(t, pki, h.b.Addr())

	tests := []struct {
		name     string
		flags    []string
		wantCode int
		wantErr  string
	}{
		{"ca and client cert", []string{"--ca", pki.caFile, "--cert", pki.certFile, "--cert-key", pki.keyFile}, ExitOK, ""},
		{"ssl scheme", []string{"--broker", strings.Replace(url, "tls://", "ssl://", 1), "--ca", pki.caFile, "--cert", pki.certFile, "--cert-key", pki.keyFile}, ExitOK, ""},
		{"unknown CA", []string{"--cert", pki.certFile, "--cert-key", pki.keyFile}, ExitUnavailable, "certificate signed by unknown authority"},
		{"no client cert", []string{"--ca", pki.caFile}, ExitUnavailable, "connect to " + url},
		{"cert does not match key", []string{"--ca", pki.caFile, "--cert", pki.certFile, "--cert-key", pki.otherKeyFile}, ExitUsage, "--cert/--cert-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--broker", url}, tt.flags...)
			code, stdout, stderr := h.run(append(args, "send", "pole-1", "ping")...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("= %d, stdout %q, stderr %q; want %d and %q", code, stdout, stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
}

type pki struct {
	caFile, certFile, keyFile, otherKeyFile string
	server                                  tls.Certificate
	pool                                    *x509.CertPool
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	p := &pki{pool: x509.NewCertPool()}
	caKey := newKey(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "loaxa test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)

	issue := func(serial int64, name string, usage x509.ExtKeyUsage) ([]byte, *ecdsa.PrivateKey) {
		key := newKey(t)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return der, key
	}
	srvDER, srvKey := issue(2, "broker", x509.ExtKeyUsageServerAuth)
	p.server = tls.Certificate{Certificate: [][]byte{srvDER}, PrivateKey: srvKey}
	cliDER, cliKey := issue(3, "operator", x509.ExtKeyUsageClientAuth)
	p.certFile = writePEM(t, dir, "operator.pem", "CERTIFICATE", cliDER)
	p.keyFile = writePEM(t, dir, "operator.key", "PRIVATE KEY", marshalKey(t, cliKey))
	p.otherKeyFile = writePEM(t, dir, "other.key", "PRIVATE KEY", marshalKey(t, newKey(t)))
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tlsFront terminates TLS (client certificate required) and relays to the
// plain broker at backend. It returns the tls:// URL and stops in Cleanup.
func tlsFront(t *testing.T, p *pki, backend string) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex // guards conns
		conns []net.Conn
	)
	track := func(c net.Conn) {
		mu.Lock()
		defer mu.Unlock()
		conns = append(conns, c)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			front, err := l.Accept()
			if err != nil {
				return // closed by Cleanup
			}
			track(front)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer front.Close()
				back, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				track(back)
				defer back.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(back, front)
					back.Close()
					close(done)
				}()
				io.Copy(front, back)
				front.Close()
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return "tls://" + l.Addr().String()
}
