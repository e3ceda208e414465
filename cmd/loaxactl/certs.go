package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// poleCert makes a client key pair for pole id on the laptop and a
// certificate for it signed by the provincial CA (caCertFile, caKeyFile):
// the pole's id is the certificate's common name, which is what a broker
// with use_identity_as_username takes as its user name, so the ACL's %u
// patterns apply. The private key never leaves the laptop except inside
// the provisioning document on the serial cable.
func poleCert(id, caCertFile, caKeyFile string, now time.Time, days int) (certPEM, keyPEM []byte, err error) {
	caCert, err := readCert(caCertFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--ca-cert %s: %w", caCertFile, err)
	}
	caKey, err := readKey(caKeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("--ca-key %s: %w", caKeyFile, err)
	}
	if !caCert.IsCA {
		return nil, nil, fmt.Errorf("--ca-cert %s: %q is not a CA certificate (basicConstraints CA:FALSE)", caCertFile, caCert.Subject.CommonName)
	}
	if now.After(caCert.NotAfter) {
		return nil, nil, fmt.Errorf("--ca-cert %s: the CA expired on %s", caCertFile, caCert.NotAfter.Format(time.DateOnly))
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate the pole's key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("certificate serial: %w", err)
	}
	notAfter := now.AddDate(0, 0, days)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter // a certificate cannot outlive its CA
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: id},
		NotBefore:    now.Add(-time.Hour), // a pole's clock may lag before NTP
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign the pole's certificate: %w (do --ca-cert and --ca-key belong together?)", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

func readCert(path string) (*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("no PEM certificate in it")
	}
	return x509.ParseCertificate(b.Bytes)
}

func readKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM private key in it")
	}
	var k any
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("a PEM block of type %q; expected a private key", b.Type)
	}
	if err != nil {
		return nil, errors.New("the private key does not parse") // never quote a key
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, errors.New("the private key cannot sign")
	}
	return s, nil
}
